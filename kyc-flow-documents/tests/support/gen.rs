//! Generators of valid identifiers and MRZs and of their mutations, shared by the
//! differential tests and the benchmark. A small deterministic PRNG keeps runs reproducible
//! (the seed is printed) without another dependency.
#![allow(dead_code)]

use kyc_flow_documents::id::{self, IdKind};
use kyc_flow_documents::mrz::build::{self, Spec};

/// SplitMix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below((hi - lo + 1) as usize) as u32
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    pub fn letters(&mut self, n: usize, from: &[u8]) -> String {
        (0..n).map(|_| char::from(*self.pick(from))).collect()
    }

    pub fn letters_between(&mut self, lo: u32, hi: u32, from: &[u8]) -> String {
        let n = self.range(lo, hi) as usize;
        self.letters(n, from)
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

pub const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const VOWELS: &[u8] = b"AEIOU";
const CONSONANTS: &[u8] = b"BCDFGHJKLMNPQRSTVWXYZ";
const STATES: [&str; 33] = [
    "AS", "BC", "BS", "CC", "CH", "CL", "CM", "CS", "DF", "DG", "GR", "GT", "HG", "JC", "MC", "MN",
    "MS", "NE", "NL", "NT", "OC", "PL", "QR", "QT", "SL", "SP", "SR", "TC", "TL", "TS", "VZ", "YN",
    "ZS",
];

fn date6(rng: &mut Rng, year_lo: u32, year_hi: u32) -> (u32, String) {
    let y = rng.range(year_lo, year_hi);
    let m = rng.range(1, 12);
    let d = rng.range(1, 28);
    (y, format!("{:02}{m:02}{d:02}", y % 100))
}

/// A valid identifier of `kind` (compact form).
pub fn valid(rng: &mut Rng, kind: IdKind) -> String {
    loop {
        let v = candidate(rng, kind);
        if id::validate(kind, &v).valid {
            return v;
        }
    }
}

fn candidate(rng: &mut Rng, kind: IdKind) -> String {
    match kind {
        IdKind::MxCurp => {
            let (year, ymd) = date6(rng, 1930, 2024);
            let homonym = if year < 2000 {
                rng.digits(1)
            } else {
                rng.letters(1, UPPER)
            };
            let head = format!(
                "{}{}{}{}{}{}{}{}",
                rng.letters(1, UPPER),
                rng.letters(1, b"AEIOUX"),
                rng.letters(2, UPPER),
                ymd,
                rng.letters(1, b"HM"),
                rng.pick(&STATES),
                rng.letters(3, CONSONANTS),
                homonym
            );
            let c = id::curp_check_digit(&head).unwrap();
            format!("{head}{c}")
        }
        IdKind::MxRfc => {
            let (_, ymd) = date6(rng, 1930, 2024);
            let alnum = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            if rng.chance(50) {
                format!("{}{ymd}{}", rng.letters(4, UPPER), rng.letters(3, alnum))
            } else {
                format!("{}{ymd}{}", rng.letters(3, UPPER), rng.letters(3, alnum))
            }
        }
        IdKind::MxClaveElector => {
            let (_, ymd) = date6(rng, 1930, 2007);
            format!(
                "{}{ymd}{:02}{}{}",
                rng.letters(6, CONSONANTS),
                rng.range(1, 32),
                rng.letters(1, b"HM"),
                rng.digits(3)
            )
        }
        IdKind::CoCedula => {
            let n = rng.range(6, 10) as usize;
            format!("{}{}", rng.range(1, 9), rng.digits(n - 1))
        }
        IdKind::CoNit => {
            let n = rng.range(7, 15) as usize;
            let body = rng.digits(n);
            let c = id::co_nit_check_digit(&body).unwrap();
            format!("{body}{c}")
        }
        IdKind::PeDni => {
            let body = rng.digits(8);
            let (d, l) = id::pe_dni_check_chars(&body).unwrap();
            match rng.below(3) {
                0 => body,
                1 => format!("{body}{d}"),
                _ => format!("{body}{l}"),
            }
        }
        IdKind::PeRuc => {
            let body = format!("{}{}", rng.pick(&["10", "15", "17", "20"]), rng.digits(8));
            (0..10)
                .map(|c| format!("{body}{c}"))
                .find(|v| id::validate(kind, v).valid)
                .unwrap_or(body)
        }
        IdKind::ArDni => {
            let n = rng.range(7, 8) as usize;
            format!("{}{}", rng.range(1, 9), rng.digits(n - 1))
        }
        IdKind::ArCuit => {
            let body = format!(
                "{}{}",
                rng.pick(&["20", "23", "24", "27", "30", "33", "34", "50", "51", "55"]),
                rng.digits(8)
            );
            let c = id::ar_cuit_check_digit(&body).unwrap();
            format!("{body}{c}")
        }
        IdKind::ClRun => {
            let n = rng.range(7, 8) as usize;
            let body = format!("{}{}", rng.range(1, 9), rng.digits(n - 1));
            let c = id::cl_run_check_char(&body).unwrap();
            format!("{body}{c}")
        }
        IdKind::BrCpf => {
            let body = rng.digits(9);
            (0..100)
                .map(|c| format!("{body}{c:02}"))
                .find(|v| id::validate(kind, v).valid)
                .unwrap_or(body)
        }
        IdKind::BrCnpj => {
            let head = if rng.chance(30) {
                rng.letters(12, b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            } else {
                let branch = if rng.chance(70) {
                    "0001".to_owned()
                } else {
                    rng.digits(4)
                };
                format!("{}{branch}", rng.digits(8))
            };
            let (a, b) = id::br_cnpj_check_digits(&head).unwrap();
            format!("{head}{a}{b}")
        }
        IdKind::EcCedula => ec_cedula(rng),
        IdKind::EcRuc => match rng.below(3) {
            0 => format!("{}{:03}", ec_cedula(rng), rng.range(1, 999)),
            1 => {
                let body = format!("{:02}6{}", rng.range(1, 24), rng.digits(5));
                let v = (0..10)
                    .map(|c| format!("{body}{c}"))
                    .find(|b| weighted(b, &[3, 2, 7, 6, 5, 4, 3, 2, 1]).is_multiple_of(11));
                format!("{}{:04}", v.unwrap_or(body), rng.range(1, 9999))
            }
            _ => {
                let body = format!("{:02}9{}", rng.range(1, 24), rng.digits(6));
                let v = (0..10)
                    .map(|c| format!("{body}{c}"))
                    .find(|b| weighted(b, &[4, 3, 2, 7, 6, 5, 4, 3, 2, 1]).is_multiple_of(11));
                format!("{}{:03}", v.unwrap_or(body), rng.range(1, 999))
            }
        },
        IdKind::GtCui => {
            let serial = rng.digits(8);
            let c = weighted(&serial, &[2, 3, 4, 5, 6, 7, 8, 9]) % 11;
            format!("{serial}{c}01{:02}", rng.range(1, 17))
        }
        IdKind::UyCi => {
            let n = rng.range(6, 7) as usize;
            let body = format!("{}{}", rng.range(1, 9), rng.digits(n - 1));
            let c = id::uy_ci_check_digit(&body).unwrap();
            format!("{body}{c}")
        }
        // A kind added to the crate needs a generator here; the property tests cover every
        // `IdKind::ALL` and fail on this arm until it has one.
        other => panic!("no valid-identifier generator for {other:?}"),
    }
}

fn weighted(s: &str, w: &[u32]) -> u32 {
    s.bytes().zip(w).map(|(b, w)| u32::from(b - b'0') * w).sum()
}

fn ec_cedula(rng: &mut Rng) -> String {
    let body = format!(
        "{:02}{}{}",
        rng.range(1, 24),
        rng.range(0, 5),
        rng.digits(6)
    );
    (0..10)
        .map(|c| format!("{body}{c}"))
        .find(|v| id::validate(IdKind::EcCedula, v).valid)
        .unwrap_or(body)
}

/// A random edit of `s`: substitution, transposition, deletion, insertion, duplication or
/// truncation, with characters drawn from `alphabet`.
pub fn mutate(rng: &mut Rng, s: &str, alphabet: &[u8]) -> String {
    let mut c: Vec<char> = s.chars().collect();
    if c.is_empty() {
        return String::new();
    }
    let i = rng.below(c.len());
    let x = char::from(*rng.pick(alphabet));
    match rng.below(6) {
        0 => c[i] = x,
        1 if c.len() > 1 => {
            let j = if i + 1 < c.len() { i + 1 } else { i - 1 };
            c.swap(i, j);
        }
        2 => {
            c.remove(i);
        }
        3 => c.insert(i, x),
        4 => c.insert(i, c[i]),
        _ => c.truncate(i),
    }
    c.into_iter().collect()
}

/// A valid MRZ of a random format; returns the text.
pub fn mrz(rng: &mut Rng) -> String {
    let alnum = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let format = rng.below(3);
    let long = format < 2 && rng.chance(20);
    let number = if long {
        rng.letters_between(10, 13, alnum)
    } else {
        rng.letters_between(6, 9, alnum)
    };
    let (_, birth) = date6(rng, 1930, 2024);
    let (_, expiry) = date6(rng, 2000, 2040);
    let spec = Spec {
        document_type: rng.pick(&["I", "ID", "IC", "P", "A"]).to_string(),
        country: rng.letters(3, UPPER),
        number,
        birth,
        sex: rng.pick(&["M", "F", "<"]).to_string(),
        expiry,
        nationality: rng.letters(3, UPPER),
        optional: if rng.chance(50) {
            rng.letters_between(0, 3, alnum)
        } else {
            String::new()
        },
        optional_2: rng.letters_between(0, 11, alnum),
        surname: rng.letters_between(2, 12, UPPER),
        given: rng.letters_between(2, 10, UPPER),
    };
    match format {
        0 => build::td1(&spec),
        1 => build::td2(&spec),
        _ => build::td3(&spec),
    }
}

/// Replaces `count` characters of an MRZ (never the newlines) by characters that OCR
/// plausibly confuses them with, or by any MRZ character.
pub fn mutate_mrz(rng: &mut Rng, text: &str, count: usize) -> String {
    let mut b: Vec<u8> = text.bytes().collect();
    let positions: Vec<usize> = (0..b.len()).filter(|&i| b[i] != b'\n').collect();
    for _ in 0..count {
        let p = *rng.pick(&positions);
        b[p] = match (b[p], rng.below(3)) {
            (b'0', 0) => b'O',
            (b'1', 0) => b'I',
            (b'5', 0) => b'S',
            (b'8', 0) => b'B',
            (b'2', 0) => b'Z',
            (b'6', 0) => b'G',
            _ => *rng.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"),
        };
    }
    String::from_utf8(b).unwrap()
}
