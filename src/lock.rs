//! Ownership of a directory that a stage writes: one process at a time.
//!
//! A stage that writes a run directory (`train`, `bound`, `certify`, `attack`, `robustness`, `run`) or the output
//! directory of `corrupt` first takes its lock, [`RunLock::acquire`]: the file `DIR/.lock`, created only if it
//! does not exist yet, holding the process id, the host, the command and the start time of its holder. A second
//! process finds the file and stops with [`Error::Locked`], which names the holder, before it writes anything.
//! The lock is advisory: it binds lcr-verify processes, not other programs.
//!
//! **Stale locks.** A lock whose holder is known to be gone (same host, and no process with its id, or a process
//! with its id that started at another time) is taken over, with a note for the user. A lock from another host,
//! or one whose holder cannot be judged (no `/proc`), is never taken over: the message says to remove the file
//! once sure no process uses the directory.
//!
//! **Leftovers.** Once the lock is held, temporary files that a killed process left behind (`.NAME.tmp-PID`, see
//! [`crate::fsio::temp_sibling`]) in the directory and in its direct subdirectories are removed when their
//! process is known to be gone.
//!
//! **Re-entrance.** The command line takes the locks (once per command and directory); the library stages do not
//! take any, so `run` can call them while it holds the locks of its run directories. A program calling the
//! library takes [`RunLock::acquire`] itself.
//!
//! Creation is atomic: the holder's description is written to a temporary file first, then hard-linked to
//! `.lock` (which fails if `.lock` exists), so no process ever reads a half-written lock. A takeover renames the
//! stale file away and checks that what it moved is what it judged stale (putting back a lock that a third
//! process created meanwhile).

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsio;

/// The lock file's name inside the directory it guards.
pub const LOCK_FILE: &str = ".lock";

/// What a lock file says about its holder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// The command line it runs.
    pub command: String,
    /// When it took the lock, UTC (`YYYY-MM-DD HH:MM:SS UTC`).
    pub since: String,
    /// The same instant in seconds since the Unix epoch.
    pub since_unix: u64,
    /// The process's start time as the kernel counts it (Linux: field 22 of `/proc/PID/stat`), to tell a live
    /// holder from a later process that reuses its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_start: Option<u64>,
}

impl Holder {
    /// This process, running `command`.
    pub fn this_process(command: &str) -> Holder {
        let pid = std::process::id();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Holder {
            pid,
            host: host_name(),
            command: command.to_string(),
            since: utc_string(now),
            since_unix: now,
            process_start: process_start(pid),
        }
    }

    /// The holder in words: "pid 42 on host h, running `…`, since …".
    pub fn describe(&self) -> String {
        format!("pid {} on host {}, running `{}`, since {}", self.pid, self.host, self.command, self.since)
    }

    /// Whether the holder is known to be gone: it ran on this host and no process with its id runs now, or the
    /// process with its id started at another time. `false` when that cannot be told.
    pub fn is_gone(&self) -> bool {
        if self.host != host_name() {
            return false;
        }
        match process_alive(self.pid) {
            Some(false) => true,
            Some(true) => match (self.process_start, process_start(self.pid)) {
                (Some(recorded), Some(now)) => recorded != now,
                _ => false,
            },
            None => false,
        }
    }
}

/// The lock of one directory, held until dropped. Dropping it removes the lock file (when it is still this
/// process's) and the directories that [`RunLock::acquire`] created, when they are still empty.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    text: String,
    owned: bool,
    /// Directories created for the lock, innermost first.
    created: Vec<PathBuf>,
    notes: Vec<String>,
}

impl RunLock {
    /// Takes the lock of `dir` for `command` (a description of what runs, shown to other processes). With
    /// `create`, a missing `dir` is created (and removed again on drop if nothing was written to it); without,
    /// a missing `dir` is an [`Error::Missing`].
    ///
    /// Errors: [`Error::Locked`] when another process holds it that is alive or cannot be judged; [`Error::Io`]
    /// naming the directory or the lock file when they cannot be created or read.
    pub fn acquire(dir: &Path, command: &str, create: bool) -> Result<RunLock> {
        let created = prepare_dir(dir, create)?;
        let path = dir.join(LOCK_FILE);
        let mut lock = RunLock { text: String::new(), path, owned: false, created, notes: Vec::new() };
        lock.text = toml::to_string(&Holder::this_process(command))
            .map_err(|e| Error::format(&lock.path, format!("cannot describe the holder: {e}")))?;
        // On failure `lock` is dropped without owning the file: only the directories it created are removed.
        lock.take()?;
        lock.notes.extend(remove_stale_temporaries(dir)?);
        Ok(lock)
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What taking the lock did besides: a stale lock taken over, leftover temporary files removed.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Creates the lock file, taking over stale ones; a few rounds, since holders come and go meanwhile.
    fn take(&mut self) -> Result<()> {
        let tmp = fsio::temp_sibling(&self.path);
        write_new(&tmp, &self.text)
            .map_err(|e| Error::io("creating", &self.path, fsio::via_temporary(e, &tmp)))?;
        let result = self.take_rounds(&tmp);
        let _ = fs::remove_file(&tmp);
        result
    }

    fn take_rounds(&mut self, tmp: &Path) -> Result<()> {
        let mut last = String::from("processes that keep taking and releasing it");
        for _ in 0..20 {
            if create_exclusive(tmp, &self.path, &self.text)
                .map_err(|e| Error::io("creating", &self.path, e))?
            {
                self.owned = true;
                return Ok(());
            }
            let Some(seen) = read_lock(&self.path)? else { continue };
            match toml::from_str::<Holder>(&seen) {
                Ok(h) if h.is_gone() => {
                    if self.take_over(&seen)? {
                        self.notes.push(format!(
                            "took over the stale lock {} of {} (that process no longer runs)",
                            self.path.display(),
                            h.describe()
                        ));
                    }
                }
                Ok(h) => return Err(self.locked(h.describe())),
                // Empty or partial: a process is writing it right now (only without hard links); look again.
                Err(_) => {
                    last = format!("an unknown process (unreadable lock file: {:?})", seen.trim());
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
            }
        }
        Err(self.locked(last))
    }

    /// Moves the stale lock file whose content is `seen` out of the way; `false` when what was moved turned out
    /// to be another, fresh lock (put back) or when the file had gone already.
    fn take_over(&self, seen: &str) -> Result<bool> {
        let aside = self.path.with_file_name(format!(".{LOCK_FILE}.stale.tmp-{}", std::process::id()));
        match fs::rename(&self.path, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io("taking over the stale lock", &self.path, e)),
        }
        let moved = fs::read_to_string(&aside).unwrap_or_default();
        if moved == seen {
            let _ = fs::remove_file(&aside);
            return Ok(true);
        }
        // A live lock created after our look: put it back, unless yet another process took the place.
        if fs::hard_link(&aside, &self.path).is_err() && !self.path.exists() {
            let _ = fs::rename(&aside, &self.path);
        }
        let _ = fs::remove_file(&aside);
        Ok(false)
    }

    fn locked(&self, holder: String) -> Error {
        Error::Locked { path: self.path.clone(), holder }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if self.owned && fs::read_to_string(&self.path).is_ok_and(|t| t == self.text) {
            let _ = fs::remove_file(&self.path);
        }
        for d in &self.created {
            // Fails, as it should, once the stage has written anything.
            let _ = fs::remove_dir(d);
        }
    }
}

/// Makes sure `dir` is a directory (creating it and its missing parents when `create`); returns the directories
/// created, innermost first.
fn prepare_dir(dir: &Path, create: bool) -> Result<Vec<PathBuf>> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(Vec::new()),
        Ok(_) => Err(Error::format(dir, "exists and is not a directory")),
        Err(e) if e.kind() == ErrorKind::NotFound && create => {
            let missing: Vec<PathBuf> = dir
                .ancestors()
                .take_while(|a| !a.as_os_str().is_empty() && fs::symlink_metadata(a).is_err())
                .map(Path::to_path_buf)
                .collect();
            fsio::ensure_dir(dir)?;
            Ok(missing)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Err(Error::Missing { path: dir.to_path_buf(), what: "run directory" })
        }
        Err(e) => Err(Error::io("opening directory", dir, e)),
    }
}

/// Writes `text` to a new file at `path` (replacing a leftover of this process id), synced.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Creates `path` with the content of `tmp` (`text`) unless it exists: `Ok(false)` when it does. A hard link is
/// atomic with its content; where the file system has none, `create_new` and a write.
fn create_exclusive(tmp: &Path, path: &Path, text: &str) -> std::io::Result<bool> {
    match fs::hard_link(tmp, path) {
        Ok(()) => return Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
        Err(_) => {}
    }
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(mut f) => {
            let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
            if let Err(e) = written {
                let _ = fs::remove_file(path);
                return Err(e);
            }
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// The lock file's content; `None` when it has gone meanwhile.
fn read_lock(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading the lock", path, e)),
    }
}

/// The process id in a temporary file's name `.NAME.tmp-PID`, if it is one.
pub fn temporary_pid(name: &str) -> Option<u32> {
    let (stem, pid) = name.strip_prefix('.')?.rsplit_once(".tmp-")?;
    (!stem.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        .then(|| pid.parse().ok())?
}

/// Removes the temporary files of gone processes from `dir` and its direct subdirectories; one note per file.
fn remove_stale_temporaries(dir: &Path) -> Result<Vec<String>> {
    let list = |d: &Path| -> Result<Vec<fs::DirEntry>> {
        let entries = fs::read_dir(d).map_err(|e| Error::io("listing", d, e))?;
        entries.collect::<std::io::Result<_>>().map_err(|e| Error::io("listing", d, e))
    };
    let top = list(dir)?;
    let mut entries = Vec::new();
    for e in top {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            entries.extend(list(&e.path())?);
        }
        entries.push(e);
    }
    let mut notes = Vec::new();
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = temporary_pid(&name) else { continue };
        if pid == std::process::id()
            || process_alive(pid) != Some(false)
            || !e.file_type().is_ok_and(|t| t.is_file())
        {
            continue;
        }
        let path = e.path();
        match fs::remove_file(&path) {
            Ok(()) => notes.push(format!(
                "removed {}, a temporary file left by process {pid}, which no longer runs",
                path.display()
            )),
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return Err(Error::io("removing the leftover temporary", &path, err)),
        }
    }
    Ok(notes)
}

/// This machine's name (Linux: the kernel's; else `HOSTNAME`/`COMPUTERNAME`).
pub fn host_name() -> String {
    for p in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(s) = fs::read_to_string(p)
            && !s.trim().is_empty()
        {
            return s.trim().to_string();
        }
    }
    ["HOSTNAME", "COMPUTERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// Whether a process with id `pid` runs on this host; `None` where that cannot be told (no `/proc`).
pub fn process_alive(pid: u32) -> Option<bool> {
    if !Path::new("/proc/self/stat").exists() {
        return None;
    }
    Some(Path::new("/proc").join(pid.to_string()).exists())
}

/// The start time of process `pid` in clock ticks after boot (Linux), to tell it from a later process with the
/// same id.
fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// `secs` after the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc_string(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar, eras of 400 years).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(utc_string(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_string(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_string(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_string(4_102_444_799), "2099-12-31 23:59:59 UTC");
    }

    #[test]
    fn temporary_names_give_their_process_id() {
        assert_eq!(temporary_pid(".model.safetensors.tmp-1234"), Some(1234));
        assert_eq!(temporary_pid("..lock.stale.tmp-7"), Some(7));
        for name in ["model.safetensors", ".tmp-12", ".a.tmp-", ".a.tmp-12x", "a.tmp-12"] {
            assert_eq!(temporary_pid(name), None, "{name}");
        }
    }

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_released_on_drop() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("run");
        let first = RunLock::acquire(&dir, "first command", true).unwrap();
        let err = RunLock::acquire(&dir, "second command", true).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Locked { .. }), "{text}");
        for needle in [format!("pid {}", std::process::id()), "first command".into(), LOCK_FILE.into()] {
            assert!(text.contains(&needle), "`{needle}` not in: {text}");
        }
        drop(first);
        assert!(!dir.exists(), "the directory the lock created is removed while empty");
        let again = RunLock::acquire(&dir, "third", true).unwrap();
        fs::write(dir.join("out.json"), b"{}").unwrap();
        drop(again);
        assert!(dir.is_dir() && !dir.join(LOCK_FILE).exists());
    }

    #[test]
    fn a_missing_directory_is_not_created_unless_asked() {
        let root = tempfile::tempdir().unwrap();
        let err = RunLock::acquire(&root.path().join("none"), "x", false).unwrap_err();
        assert!(matches!(err, Error::Missing { what: "run directory", .. }), "{err}");
        assert!(!root.path().join("none").exists());
    }

    /// The id of a process that has ended.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn a_lock_of_a_dead_process_on_this_host_is_taken_over_and_its_temporaries_removed() {
        if process_alive(std::process::id()) != Some(true) {
            eprintln!("note: no /proc here, so no holder can be judged gone; skipped");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let dead = dead_pid();
        let stale = Holder { pid: dead, ..Holder::this_process("old command") };
        fs::write(root.path().join(LOCK_FILE), toml::to_string(&stale).unwrap()).unwrap();
        let leftover = root.path().join(format!(".model.safetensors.tmp-{dead}"));
        let live = root.path().join(format!(".bounds.json.tmp-{}", std::process::id()));
        fs::create_dir(root.path().join("violations")).unwrap();
        let nested = root.path().join("violations").join(format!(".v.json.tmp-{dead}"));
        for f in [&leftover, &live, &nested] {
            fs::write(f, b"partial").unwrap();
        }
        let lock = RunLock::acquire(root.path(), "new command", false).unwrap();
        assert!(lock.notes().iter().any(|n| n.contains("stale lock") && n.contains(&format!("pid {dead}"))));
        assert!(!leftover.exists() && !nested.exists(), "{:?}", lock.notes());
        assert!(live.exists(), "a temporary of a live process stays");
        let now: Holder = toml::from_str(&fs::read_to_string(lock.path()).unwrap()).unwrap();
        assert_eq!((now.pid, now.command.as_str()), (std::process::id(), "new command"));
    }

    #[test]
    fn a_live_holder_on_another_host_or_with_an_unreadable_file_is_never_taken_over() {
        let root = tempfile::tempdir().unwrap();
        let other = Holder { pid: 1, host: "elsewhere.example".into(), ..Holder::this_process("remote") };
        fs::write(root.path().join(LOCK_FILE), toml::to_string(&other).unwrap()).unwrap();
        let err = RunLock::acquire(root.path(), "x", false).unwrap_err().to_string();
        assert!(err.contains("elsewhere.example") && err.contains("remote"), "{err}");
        fs::write(root.path().join(LOCK_FILE), b"garbage").unwrap();
        let err = RunLock::acquire(root.path(), "x", false).unwrap_err().to_string();
        assert!(err.contains("unknown process") && err.contains("garbage"), "{err}");
        assert_eq!(fs::read(root.path().join(LOCK_FILE)).unwrap(), b"garbage", "left as it was");
    }

    #[test]
    fn a_reused_process_id_does_not_make_a_holder_alive() {
        let Some(start) = process_start(std::process::id()) else {
            eprintln!("note: no /proc here; skipped");
            return;
        };
        let me = Holder::this_process("x");
        assert!(!me.is_gone());
        let earlier = Holder { process_start: Some(start + 1), ..me };
        assert!(earlier.is_gone(), "same id, another start time: the recorded holder has gone");
    }
}
