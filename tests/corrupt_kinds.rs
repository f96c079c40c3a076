//! Names, suites and list parsing.

use lcr_verify::corrupt::{
    Corruption, Suite, Table, mnist_c_severity, parse_corruption_list, parse_severity_list,
};

#[test]
fn names_round_trip_and_match_the_reference() {
    for c in Corruption::ALL {
        assert_eq!(c.as_str().parse::<Corruption>().unwrap(), c);
        assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.as_str()));
    }
    assert_eq!("elastic".parse::<Corruption>().unwrap(), Corruption::ElasticTransform);
    assert_eq!("JPEG".parse::<Corruption>().unwrap(), Corruption::JpegCompression);
    assert_eq!("gaussian-noise".parse::<Corruption>().unwrap(), Corruption::GaussianNoise);
    let err = "blurry".parse::<Corruption>().unwrap_err().to_string();
    assert!(err.contains("unknown corruption `blurry`") && err.contains("zoom_blur"), "{err}");
}

#[test]
fn suites_fix_table_corruptions_and_severities() {
    assert_eq!(Suite::CifarC.table(), Table::Cifar);
    assert_eq!(Suite::ImagenetC.table(), Table::ImageNet);
    assert_eq!(Suite::MnistC.table(), Table::MnistC);
    assert_eq!(Suite::CifarC.corruptions().len(), 19);
    assert_eq!(Suite::ImagenetC.benchmark().len(), 15);
    assert_eq!(Suite::MnistC.corruptions().len(), 15);
    assert!(!Suite::CifarC.contains(Corruption::Shear) && Suite::MnistC.contains(Corruption::Shear));
    assert_eq!(Suite::ImagenetC.severities(Corruption::Fog), vec![1, 2, 3, 4, 5]);
    // MNIST-C's fixed severities (the defaults of its corruptions.py).
    let fixed: Vec<(Corruption, u8)> =
        Suite::MnistC.corruptions().into_iter().map(|c| (c, mnist_c_severity(c))).collect();
    assert!(fixed.contains(&(Corruption::ShotNoise, 5)) && fixed.contains(&(Corruption::ImpulseNoise, 4)));
    assert!(fixed.contains(&(Corruption::Shear, 2)) && fixed.contains(&(Corruption::Scale, 3)));
    assert!(fixed.contains(&(Corruption::Spatter, 4)) && fixed.contains(&(Corruption::Stripe, 1)));
    assert_eq!(Suite::default_for(28, 28, 1), Suite::MnistC);
    assert_eq!(Suite::default_for(32, 32, 3), Suite::CifarC);
    assert_eq!(Suite::default_for(224, 224, 3), Suite::ImagenetC);
    assert_eq!("cifar-10-c".parse::<Suite>().unwrap(), Suite::CifarC);
}

#[test]
fn lists_parse_and_reject_nonsense() {
    assert_eq!(parse_severity_list("1-3,5").unwrap(), vec![1, 2, 3, 5]);
    assert_eq!(parse_severity_list(" 4, 2 ,2").unwrap(), vec![2, 4]);
    for bad in ["0", "6", "3-1", "a", "", "1-9"] {
        assert!(parse_severity_list(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_corruption_list("benchmark", Suite::CifarC).unwrap().len(), 15);
    assert_eq!(parse_corruption_list("all", Suite::MnistC).unwrap().len(), 15);
    assert_eq!(
        parse_corruption_list("fog, snow", Suite::CifarC).unwrap(),
        vec![Corruption::Fog, Corruption::Snow]
    );
    assert!(parse_corruption_list("fog,nope", Suite::CifarC).is_err());
    assert!(parse_corruption_list(" , ", Suite::CifarC).is_err());
}
