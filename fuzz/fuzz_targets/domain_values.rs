//! The domain's input validators (`autopmo_domain`): every newtype the API
//! parses at its edge, from one arbitrary string (and a second one where a
//! parser takes two).
//!
//! Properties beyond "never panics": what a parser accepts is canonical —
//! parsing its own output gives the same value, so a value stored once
//! reads back — and stays within the documented bounds.
#![no_main]

use arbitrary::Arbitrary;
use autopmo_domain::work::parse_date;
use autopmo_domain::{
    Amount, CostCategory, Currency, Description, DisplayName, Email, Hours, MemberKind, Money, Note, Percent,
    PlannedDates, ProjectId, ProjectName, ProjectStatus, Role, TaskId, TaskStatus, TaskTitle, UserId, UserStatus,
    Username,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    text: String,
    other: String,
    number: i64,
}

macro_rules! text_round_trip {
    ($ty:ty, $raw:expr, $min:expr) => {
        if let Ok(v) = <$ty>::parse($raw) {
            assert_eq!(v.as_str(), $raw.trim(), "{} is not the trimmed input", stringify!($ty));
            let chars = v.as_str().chars().count();
            assert!(($min..=<$ty>::MAX_CHARS).contains(&chars), "{} of {chars} characters", stringify!($ty));
            assert_eq!(<$ty>::parse(v.as_str()).as_ref(), Ok(&v), "{} does not read back", stringify!($ty));
        }
    };
}

macro_rules! name_round_trip {
    ($ty:ty, $raw:expr) => {
        if let Ok(v) = <$ty>::parse($raw) {
            assert_eq!(<$ty>::parse(v.as_str()).ok(), Some(v), "{} does not read back", stringify!($ty));
        }
    };
}

macro_rules! id_round_trip {
    ($ty:ty, $raw:expr) => {
        if let Ok(v) = $raw.parse::<$ty>() {
            assert_eq!(v.to_string().parse::<$ty>().ok(), Some(v), "{} does not read back", stringify!($ty));
        }
    };
}

fuzz_target!(|input: Input| {
    let raw = input.text.as_str();

    text_round_trip!(ProjectName, raw, 1);
    text_round_trip!(TaskTitle, raw, 1);
    text_round_trip!(DisplayName, raw, 1);
    text_round_trip!(Description, raw, 0);
    text_round_trip!(Note, raw, 0);

    if let Ok(u) = Username::parse(raw) {
        let s = u.as_str();
        assert!((3..=64).contains(&s.len()), "username of {} bytes", s.len());
        assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)));
        assert_eq!(Username::parse(s).as_ref(), Ok(&u), "a username does not read back");
    }
    if let Ok(e) = Email::parse(raw) {
        assert!(e.as_str().len() <= 254, "an email of {} bytes was accepted", e.as_str().len());
        assert_eq!(Email::parse(e.as_str()).as_ref(), Ok(&e), "an email does not read back: {:?}", e.as_str());
        assert_eq!(Email::parse(&e.normalized()).map(|n| n.normalized()).ok(), Some(e.normalized()));
    }

    name_round_trip!(ProjectStatus, raw);
    name_round_trip!(TaskStatus, raw);
    name_round_trip!(UserStatus, raw);
    name_round_trip!(Role, raw);
    name_round_trip!(MemberKind, raw);
    name_round_trip!(CostCategory, raw);

    id_round_trip!(ProjectId, raw);
    id_round_trip!(TaskId, raw);
    id_round_trip!(UserId, raw);

    if let Ok(c) = Currency::parse(&input.other) {
        assert_eq!(c.code(), input.other);
        if let Ok(a) = Amount::parse(raw, c) {
            let canonical = a.to_string_in(c);
            assert_eq!(Amount::parse(&canonical, c), Ok(a), "amount {canonical} does not read back");
            assert_eq!(Amount::from_minor(a.minor(), c), Some(a), "a parsed amount is out of the stored range");
            assert!(a.minor() >= 0);
        }
    }
    if let Ok(m) = Money::parse(raw, &input.other) {
        let shown = m.to_string();
        let (amount, code) = shown.split_once(' ').expect("`amount CODE`");
        assert_eq!(Money::parse(amount, code), Ok(m), "money {shown} does not read back");
    }
    if let Ok(h) = Hours::parse(raw) {
        assert_eq!(Hours::parse(&h.to_string()), Ok(h), "hours {h} do not read back");
        assert_eq!(Hours::from_hundredths(h.hundredths()), Some(h), "parsed hours are out of the stored range");
    }
    if let Ok(p) = Percent::new(input.number) {
        assert!(p.value() <= 100);
    }

    let start = parse_date(raw);
    if let Ok(d) = start {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let shown = d.format(format).expect("a parsed date formats");
        assert_eq!(parse_date(&shown), Ok(d), "date {shown} does not read back");
    }
    if let (Ok(s), Ok(e)) = (start, parse_date(&input.other)) {
        assert_eq!(PlannedDates::new(Some(s), Some(e)).is_ok(), s <= e);
    }
});
