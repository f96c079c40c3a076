//! Grouping runs by configuration: two runs belong together when their `config.toml` agree on every key but the
//! seed. A group is named by the keys in which the groups differ, and each regularised group (λ > 0) is compared
//! with the baseline group (λ = 0) that agrees with it on every key outside the regulariser's.

use std::collections::BTreeMap;

use super::collect::RunData;
use crate::error::{Error, Result};
use crate::train::TrainConfig;

/// Runs of one configuration, one per seed.
#[derive(Clone, Debug)]
pub struct Group {
    /// A name built from the keys in which the groups differ (the dataset and architecture when there is one
    /// group).
    pub label: String,
    /// A short name for file names (letters, digits and `-`).
    pub slug: String,
    /// Every configuration key but the seed, as TOML text.
    pub settings: BTreeMap<String, String>,
    /// The λ of the regulariser.
    pub lcr_weight: f64,
    /// The runs, in seed order.
    pub runs: Vec<RunData>,
}

/// A regularised configuration and its baseline (indices into the groups).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// The group with λ > 0.
    pub treatment: usize,
    /// The group with λ = 0 that agrees with it on every other key outside the regulariser's.
    pub baseline: usize,
}

/// The configuration keys of the regulariser: a baseline may differ from its treatment in these.
const LCR_KEYS: [&str; 6] =
    ["lcr_weight", "lcr_variant", "lcr_beta", "lcr_power_steps", "lcr_power_normalised", "lcr_teacher"];

/// Every key but the seed, as TOML text (strings without quotes).
fn settings(config: &TrainConfig) -> Result<BTreeMap<String, String>> {
    let value = toml::Value::try_from(config.to_raw())
        .map_err(|e| Error::config("config", format!("cannot describe the configuration: {e}")))?;
    let Some(table) = value.as_table() else { return Ok(BTreeMap::new()) };
    Ok(table
        .iter()
        .filter(|(k, _)| k.as_str() != "seed")
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect())
}

/// Groups `runs` by configuration (seed aside). Groups are ordered by λ, then by name; runs by seed. Two runs
/// of one configuration with the same seed are refused: the report could not tell their figures apart.
pub fn group(runs: Vec<RunData>) -> Result<Vec<Group>> {
    let mut by_key: BTreeMap<String, (BTreeMap<String, String>, Vec<RunData>)> = BTreeMap::new();
    for run in runs {
        let s = settings(&run.config)?;
        let key = format!("{s:?}");
        let entry = by_key.entry(key).or_insert_with(|| (s, Vec::new()));
        if let Some(twin) = entry.1.iter().find(|r| r.seed() == run.seed()) {
            return Err(Error::config(
                "RUN_DIR",
                format!(
                    "{} and {} have the same configuration and seed {}: pass one of them",
                    twin.dir.display(),
                    run.dir.display(),
                    run.seed()
                ),
            ));
        }
        entry.1.push(run);
    }
    let all: Vec<&BTreeMap<String, String>> = by_key.values().map(|(s, _)| s).collect();
    let differing: Vec<String> = all
        .first()
        .map(|first| {
            first.keys().filter(|k| all.iter().any(|s| s.get(*k) != first.get(*k))).cloned().collect()
        })
        .unwrap_or_default();
    let mut groups: Vec<Group> = by_key
        .into_values()
        .map(|(settings, mut runs)| {
            runs.sort_by(|a, b| a.seed().cmp(&b.seed()).then_with(|| a.dir.cmp(&b.dir)));
            let label = if differing.is_empty() {
                format!("{} on {}", text(&settings, "arch"), text(&settings, "dataset"))
            } else {
                differing.iter().map(|k| format!("{k}={}", text(&settings, k))).collect::<Vec<_>>().join(", ")
            };
            let lcr_weight = runs[0].config.lcr_weight;
            Group { slug: String::new(), label, settings, lcr_weight, runs }
        })
        .collect();
    groups.sort_by(|a, b| a.lcr_weight.total_cmp(&b.lcr_weight).then_with(|| a.label.cmp(&b.label)));
    let mut used: Vec<String> = Vec::new();
    for (i, g) in groups.iter_mut().enumerate() {
        let mut slug = slugify(&g.label);
        if used.contains(&slug) {
            slug = format!("{slug}-{}", i + 1);
        }
        used.push(slug.clone());
        g.slug = slug;
    }
    Ok(groups)
}

fn text<'a>(settings: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    settings.get(key).map_or("?", String::as_str)
}

/// Letters and digits kept (lower case), every other run of characters one `-`, at most 48 characters.
pub fn slugify(label: &str) -> String {
    let mut s = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s: String = s.trim_matches('-').chars().take(48).collect();
    if s.is_empty() { "runs".into() } else { s }
}

/// Each group with λ > 0 paired with the one group with λ = 0 that agrees with it outside the regulariser's
/// keys (none when there is no such group, or more than one).
pub fn comparisons(groups: &[Group]) -> Vec<Comparison> {
    let outside = |g: &Group| -> BTreeMap<String, String> {
        g.settings
            .iter()
            .filter(|(k, _)| !LCR_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let mut out = Vec::new();
    for (t, tg) in groups.iter().enumerate().filter(|(_, g)| g.lcr_weight > 0.0) {
        let key = outside(tg);
        let bases: Vec<usize> = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.lcr_weight == 0.0 && outside(g) == key)
            .map(|(i, _)| i)
            .collect();
        if let [b] = bases[..] {
            out.push(Comparison { treatment: t, baseline: b });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_keep_letters_digits_and_dots() {
        assert_eq!(slugify("lcr_weight=0.001, widths=[16, 16]"), "lcr-weight-0.001-widths-16-16");
        assert_eq!(slugify("***"), "runs");
    }
}
