//! The library's enums as command-line choices: each value under the name it has in files, with one line of
//! help for `--help`.
//!
//! The library types carry no clap derive; this module gives each the names (from the type's own `name`) and
//! the help lines the command line shows, and [`parser`] turns them into a clap value parser:
//!
//! ```text
//! #[arg(long, value_parser = choice::parser::<Arch>())]
//! pub arch: Option<Arch>,
//! ```

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use crate::corrupt::layout::LayoutKind;
use crate::corrupt::{Split, Suite};
use crate::data::DatasetKind;
use crate::ir::SignZero;
use crate::lcr::LcrVariant;
use crate::model::{Arch, SteKind, WeightScaling};
use crate::train::OptimizerKind;

/// An enum offered on the command line by name.
pub(crate) trait Choice: Copy + Send + Sync + 'static {
    /// Every value, in the order `--help` lists them.
    fn all() -> &'static [Self];
    /// The value's name (the same as in files).
    fn name(self) -> &'static str;
    /// One line of help.
    fn help(self) -> &'static str;
}

/// A clap value parser that accepts exactly the names of `T`'s values and lists them, with their help, in
/// `--help` and in the message for an unknown name.
pub(crate) fn parser<T: Choice>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::all().iter().map(|v| PossibleValue::new(v.name()).help(v.help())))
        .map(|name| *T::all().iter().find(|v| v.name() == name).expect("clap accepts only the listed names"))
}

impl Choice for DatasetKind {
    fn all() -> &'static [Self] {
        &DatasetKind::ALL
    }
    fn name(self) -> &'static str {
        DatasetKind::name(self)
    }
    fn help(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "MNIST handwritten digits, 28×28 gray (shipped in `datasets/mnist`)",
            DatasetKind::FashionMnist => {
                "Fashion-MNIST, 28×28 gray, same IDX format as MNIST (shipped in `datasets/fashion-mnist`)"
            }
            DatasetKind::Cifar10 => {
                "CIFAR-10, 32×32 colour, the binary `data_batch_*.bin` format (from `--data-dir`)"
            }
        }
    }
}

impl Choice for LayoutKind {
    fn all() -> &'static [Self] {
        &LayoutKind::ALL
    }
    fn name(self) -> &'static str {
        LayoutKind::name(self)
    }
    fn help(self) -> &'static str {
        match self {
            LayoutKind::CifarC => {
                "one .npy per corruption, severities stacked, plus labels.npy (as CIFAR-10-C is released)"
            }
            LayoutKind::MnistC => "<corruption>/test_images.npy and test_labels.npy (as MNIST-C is released)",
            LayoutKind::ImagenetC => {
                "<corruption>/<severity>/<class>/<index>.JPEG, JPEG quality 85 (as ImageNet-C is released)"
            }
        }
    }
}

impl Choice for Arch {
    fn all() -> &'static [Self] {
        &Arch::ALL
    }
    fn name(self) -> &'static str {
        Arch::name(self)
    }
    fn help(self) -> &'static str {
        match self {
            Arch::Mlp => "Fully connected: real first layer, binary hidden layers, real classifier",
            Arch::Cnn => "Convolutional: real stem, binary 3×3 conv–maxpool–BN blocks, real classifier",
            Arch::Resnet => "Bi-Real/IR-Net-style ResNet: a real shortcut around every binary 3×3 conv",
        }
    }
}

impl Choice for OptimizerKind {
    fn all() -> &'static [Self] {
        &OptimizerKind::ALL
    }
    fn name(self) -> &'static str {
        OptimizerKind::name(self)
    }
    fn help(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "SGD with momentum and coupled weight decay",
            OptimizerKind::Adamw => "Adam with decoupled weight decay",
        }
    }
}

impl Choice for LcrVariant {
    fn all() -> &'static [Self] {
        &LcrVariant::ALL
    }
    fn name(self) -> &'static str {
        LcrVariant::name(self)
    }
    fn help(self) -> &'static str {
        match self {
            LcrVariant::Layer => {
                "Per binary layer, sign features against real features of the same network (the paper)"
            }
            LcrVariant::Stage => {
                "Per pair of consecutive stages, student against a full-precision teacher (the released code)"
            }
        }
    }
}

impl Choice for SteKind {
    fn all() -> &'static [Self] {
        &SteKind::ALL
    }
    fn name(self) -> &'static str {
        SteKind::name(self)
    }
    fn help(self) -> &'static str {
        match self {
            SteKind::Clipped => "Clipped identity: gradient 1 on [−1, 1], 0 outside",
            SteKind::Ede => "IR-Net's error-decay estimator k·t·(1 − tanh²(t·x)) with its epoch schedule",
        }
    }
}

impl Choice for WeightScaling {
    fn all() -> &'static [Self] {
        &WeightScaling::ALL
    }
    fn name(self) -> &'static str {
        WeightScaling::name(self)
    }
    fn help(self) -> &'static str {
        match self {
            WeightScaling::None => "Plain ±1 weights",
            WeightScaling::Mean => "XNOR-Net: α_c = mean |w_c| (gradient flows through α)",
            WeightScaling::Irnet => "IR-Net: standardise per channel, then a detached power-of-two scale",
        }
    }
}

impl Choice for SignZero {
    fn all() -> &'static [Self] {
        &SignZero::ALL
    }
    fn name(self) -> &'static str {
        SignZero::name(self)
    }
    fn help(self) -> &'static str {
        match self {
            SignZero::PlusOne => {
                "sign(0) = +1, so activations are strictly binary (the deployed-hardware convention)"
            }
            SignZero::Zero => "sign(0) = 0, as `torch.sign` in the released LCR-BNN code",
        }
    }
}

impl Choice for Suite {
    fn all() -> &'static [Self] {
        &Suite::ALL
    }
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn help(self) -> &'static str {
        match self {
            Suite::ImagenetC => {
                "ImageNet-C: the 15 + 4 corruptions at severities 1–5 with the ImageNet (224 px) table"
            }
            Suite::CifarC => {
                "CIFAR-10-C: the 15 + 4 corruptions at severities 1–5 with the CIFAR (32 px) table"
            }
            Suite::MnistC => "MNIST-C: 15 corruptions, each at its one fixed severity",
        }
    }
}

impl Choice for Split {
    fn all() -> &'static [Self] {
        &Split::ALL
    }
    fn name(self) -> &'static str {
        Split::name(self)
    }
    fn help(self) -> &'static str {
        match self {
            Split::Test => "The test split (the benchmarks' choice)",
            Split::Train => "The training split",
        }
    }
}

impl Choice for crate::ir::Function {
    fn all() -> &'static [Self] {
        &[crate::ir::Function::Deployed, crate::ir::Function::Surrogate, crate::ir::Function::Latent]
    }
    fn name(self) -> &'static str {
        crate::ir::Function::name(self)
    }
    fn help(self) -> &'static str {
        match self {
            crate::ir::Function::Deployed => "the network as it runs: sign activations, binary weights",
            crate::ir::Function::Surrogate => "the same weights, hardtanh for sign",
            crate::ir::Function::Latent => "the real latent weights, hardtanh for sign",
        }
    }
}

impl Choice for crate::ir::InputNorm {
    fn all() -> &'static [Self] {
        &[crate::ir::InputNorm::L2, crate::ir::InputNorm::Linf]
    }
    fn name(self) -> &'static str {
        crate::ir::InputNorm::name(self)
    }
    fn help(self) -> &'static str {
        match self {
            crate::ir::InputNorm::L2 => "Euclidean norm of the perturbation",
            crate::ir::InputNorm::Linf => "largest absolute change of any input value",
        }
    }
}

impl Choice for crate::attack::AttackChoice {
    fn all() -> &'static [Self] {
        &crate::attack::AttackChoice::ALL
    }
    fn name(self) -> &'static str {
        crate::attack::AttackChoice::name(self)
    }
    fn help(self) -> &'static str {
        use crate::attack::AttackChoice as A;
        match self {
            A::Fgsm => "fast gradient sign (ℓ∞) / fast gradient (ℓ2), one step at each ε",
            A::Pgd => "projected gradient descent at each ε (margin loss, restarts)",
            A::Decision => "label-only boundary search (for the sign network, whose gradient is zero)",
            A::Min => "the minimal-perturbation search over every attack, bisecting on ε",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the command line accepts are the names the files use.
    fn names_match_serde<T: Choice + serde::Serialize>() {
        for v in T::all() {
            assert_eq!(serde_json::to_value(v).unwrap(), v.name());
        }
    }

    #[test]
    fn command_line_names_are_file_names() {
        names_match_serde::<DatasetKind>();
        names_match_serde::<Arch>();
        names_match_serde::<OptimizerKind>();
        names_match_serde::<LcrVariant>();
        names_match_serde::<SteKind>();
        names_match_serde::<WeightScaling>();
        names_match_serde::<SignZero>();
        names_match_serde::<Suite>();
        names_match_serde::<Split>();
    }
}
