//! Evaluates the local document pipeline on the synthetic SPECIMEN set and prints tables:
//! field-level OCR accuracy per document side, barcode and MRZ decode rates, and which quality
//! reasons fire on each perturbation.
//!
//! `kyc-flow-vision-eval [SEEDS] [--dump DIR]` (default 5 seeds).
//! `kyc-flow-vision-eval synth [--count N] [--seed S] [--verbose]`: the domain-randomised
//! synthetic set (`randomised`), reader told neither country nor side; the per-model table of
//! `dev` (default 60 samples, seed 1).
//! `kyc-flow-vision-eval dev [DIR] [--verbose] [--width W]`: the real specimens of documents-dev
//! (each downscaled to W pixels wide first with `--width`).
//! `kyc-flow-vision-eval read FILE [--width W]`: one photo's recognised lines and `inspect image`
//! JSON (downscaled to W pixels wide first with `--width`).
//! `kyc-flow-vision-eval pad DIR [--json]`: presentation-attack detection on a labelled
//! folder (APCER/BPCER); `kyc-flow-vision-eval pad-devset OUT` writes the development set
//! (docs/VISION.md, "Presentation-attack detection"). Synthetic data only: the
//! numbers say the pipeline works end to end on cards rendered like the templates, not how it
//! does on real cards (see docs/VISION-OCR.md).

use kyc_flow_core::evidence::{DocumentOutcome, Side};
use kyc_flow_vision::reader::LocalDocumentReader;
use kyc_flow_vision_testkit::synth::{self, Perturbation, SampleKind};
use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = pad::run(&args)? {
        std::process::exit(code);
    }
    let seeds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5);
    let dump = args
        .iter()
        .position(|a| a == "--dump")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    if let Some(d) = &dump {
        std::fs::create_dir_all(d)?;
    }
    // Every barcode, so the "barcode decoded" column measures decoding, not the runtime's skip.
    let reader = LocalDocumentReader::from_default_assets()?.with_every_barcode();
    // `--width W` (`dev`, `read`): every image downscaled to W pixels wide first (web
    // thumbnails).
    let width = args
        .iter()
        .position(|a| a == "--width")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse::<u32>())
        .transpose()?;
    if args.first().map(String::as_str) == Some("dev") {
        // `dev [DIR]`: the real specimens (documents-dev), reader told nothing.
        let dir = args
            .get(1)
            .filter(|a| !a.starts_with("--"))
            .map(std::path::PathBuf::from)
            .or_else(kyc_flow_vision_testkit::dev_eval::dev_dir)
            .ok_or("documents-dev not found (set KYC_FLOW_DOCUMENTS_DEV)")?;
        if args.iter().any(|a| a == "--verbose") {
            for e in std::fs::read_dir(&dir)? {
                let p = e?.path();
                if p.extension().is_some_and(|x| x == "json" || x == "md") {
                    continue;
                }
                println!("== {}", p.display());
                let bytes =
                    kyc_flow_vision_testkit::dev_eval::downscaled(std::fs::read(&p)?, width)?;
                print_reading(&reader.read_photo(&bytes)?)?;
            }
        }
        let results = kyc_flow_vision_testkit::dev_eval::evaluate_at(&reader, &dir, width)?;
        println!("{}", kyc_flow_vision_testkit::dev_eval::report(&results));
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("read") {
        // `read FILE`: the lines recognised on one photo (text, confidence, box) and its
        // `inspect image` JSON, to see why a photo was read the way it was.
        let path = args.get(1).ok_or("read FILE")?;
        let bytes = kyc_flow_vision_testkit::dev_eval::downscaled(std::fs::read(path)?, width)?;
        print_reading(&reader.read_photo(&bytes)?)?;
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("synth") {
        // `synth [--count N] [--seed S] [--verbose]`: the domain-randomised set, reader told
        // nothing.
        let flag = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .map(|v| v.parse::<u64>())
                .transpose()
        };
        let count = flag("--count")?.unwrap_or(60) as usize;
        let seed = flag("--seed")?.unwrap_or(1);
        let results = kyc_flow_vision_testkit::randomised::evaluate(&reader, count, seed)?;
        if args.iter().any(|a| a == "--verbose") {
            println!("{}", kyc_flow_vision_testkit::dev_eval::report(&results));
        } else {
            println!(
                "{}",
                kyc_flow_vision_testkit::dev_eval::model_table(&results)
            );
        }
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("synth-one") {
        // `synth-one MODEL SIDE SEED [--dump DIR]`: one randomised sample, its truth and what
        // was read.
        use kyc_flow_vision_testkit::randomised::{self, RandomModel};
        let model = RandomModel::parse(args.get(1).ok_or("model")?).ok_or("unknown model")?;
        let side = if args.get(2).map(String::as_str) == Some("back") {
            Side::Back
        } else {
            Side::Front
        };
        let seed: u64 = args.get(3).ok_or("seed")?.parse()?;
        let s = randomised::generate(model, side, seed)?;
        if let Some(d) = &dump {
            std::fs::write(d.join("synth-one.jpg"), &s.image)?;
            image::load_from_memory(&s.image)?
                .thumbnail(1000, 1000)
                .save(d.join("synth-one.png"))?;
        }
        println!("sample: {s:#?}");
        let r = randomised::score(&reader, &s)?;
        println!("{r:#?}");
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("one") {
        // `one KIND SIDE SEED PERTURBATION`: one sample, its truth and what was read.
        let kind = SampleKind::parse(&args[1]).ok_or("kind")?;
        let side = if args[2] == "back" {
            Side::Back
        } else {
            Side::Front
        };
        let seed: u64 = args[3].parse()?;
        let p = Perturbation::parse(&args[4]).ok_or("perturbation")?;
        let s = synth::generate(kind, side, seed, p)?;
        if let Some(d) = &dump {
            std::fs::write(d.join("one.jpg"), &s.image)?;
            let img = kyc_flow_vision::quality::decode(&s.image)?
                .thumbnail(640, 640)
                .to_luma8();
            kyc_flow_vision::quality::edge_map(&img).save(d.join("edges.png"))?;
            image::DynamicImage::ImageLuma8(img).save(d.join("one.png"))?;
        }
        let a = reader.analyse(&s.image, kind.document(), side)?;
        println!("truth: {:#?}", s.truth);
        println!("mrz truth: {:?}", s.mrz);
        println!("quality: {:?}", a.quality);
        for l in &a.lines {
            println!("line {:?} {:?} {:.2}", l.bbox, l.text, l.confidence);
        }
        println!("mrz: {:?}", a.mrz.as_ref().map(|m| (&m.lines, m.valid())));
        println!("barcodes: {:?}", a.barcodes);
        println!("fields: {:#?}", a.fields);
        println!("checks: {:#?}", a.checks);
        println!("outcome: {:?}", a.outcome);
        println!("timings: {:?}", a.timings);
        return Ok(());
    }

    // Field accuracy on readable photos (clean, skew, WhatsApp re-encoding).
    println!("## Field-level accuracy (exact match after normalization), {seeds} seeds per cell\n");
    println!(
        "| document | side | perturbation | fields correct | accuracy | MRZ valid | barcode decoded | accepted | ms/photo |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut per_field: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut totals = (0u32, 0u32);
    for kind in SampleKind::ALL {
        for side in [Side::Front, Side::Back] {
            for p in [
                Perturbation::Clean,
                Perturbation::Skew,
                Perturbation::WhatsApp,
            ] {
                let (mut ok, mut n, mut mrz_ok, mut mrz_n, mut bc_ok, mut bc_n, mut acc, mut ms) =
                    (0, 0, 0, 0, 0, 0, 0, 0.0);
                for seed in 0..seeds {
                    let s = synth::generate(kind, side, seed, p)?;
                    if let Some(d) = &dump {
                        std::fs::write(
                            d.join(format!(
                                "{}-{:?}-{}-{seed}.jpg",
                                kind.country(),
                                side,
                                p.as_str()
                            )),
                            &s.image,
                        )?;
                    }
                    let t = std::time::Instant::now();
                    let a = reader.analyse(&s.image, kind.document(), side)?;
                    ms += t.elapsed().as_secs_f64() * 1000.0;
                    if matches!(a.outcome, DocumentOutcome::Accepted { .. }) {
                        acc += 1;
                    }
                    for (k, want) in &s.truth {
                        let got = a.fields.get(k).map(|f| f.value.as_str());
                        let hit = got.is_some_and(|g| normalize(g) == normalize(want));
                        n += 1;
                        ok += hit as u32;
                        let e = per_field
                            .entry(format!("{} {:?} {k}", kind.country(), side))
                            .or_default();
                        e.0 += hit as u32;
                        e.1 += 1;
                    }
                    if s.mrz.is_some() {
                        mrz_n += 1;
                        mrz_ok += a.mrz.as_ref().is_some_and(|m| m.valid()) as u32;
                    }
                    if let Some(want) = &s.barcode {
                        bc_n += 1;
                        bc_ok += a.barcodes.iter().any(|b| &b.bytes == want) as u32;
                    }
                }
                totals.0 += ok;
                totals.1 += n;
                println!(
                    "| {} | {:?} | {} | {ok}/{n} | {:.1} % | {} | {} | {acc}/{seeds} | {:.0} |",
                    kind.country(),
                    side,
                    p.as_str(),
                    100.0 * ok as f64 / n.max(1) as f64,
                    rate(mrz_ok, mrz_n),
                    rate(bc_ok, bc_n),
                    ms / seeds as f64
                );
            }
        }
    }
    println!(
        "\nOverall field accuracy: {}/{} = {:.1} %\n",
        totals.0,
        totals.1,
        100.0 * totals.0 as f64 / totals.1.max(1) as f64
    );
    println!("### Per field\n\n| field | correct | accuracy |\n|---|---|---|");
    for (k, (ok, n)) in &per_field {
        println!(
            "| {k} | {ok}/{n} | {:.0} % |",
            100.0 * *ok as f64 / (*n).max(1) as f64
        );
    }

    // Quality reasons on the perturbed set.
    println!(
        "\n## Quality gate on perturbed photos ({seeds} seeds × 3 documents × 2 sides each)\n"
    );
    println!(
        "| perturbation | expected | expected reason fired | photos passing the gate | first reason seen | sharpness min–max |"
    );
    println!("|---|---|---|---|---|---|");
    for p in Perturbation::ALL {
        let (mut fired, mut passed, mut n) = (0, 0, 0);
        let mut seen: BTreeMap<&'static str, u32> = BTreeMap::new();
        let (mut smin, mut smax) = (f32::MAX, 0f32);
        for kind in SampleKind::ALL {
            for side in [Side::Front, Side::Back] {
                for seed in 0..seeds {
                    let s = synth::generate(kind, side, 100 + seed, p)?;
                    let img = kyc_flow_vision::quality::decode(&s.image)?;
                    let r = kyc_flow_vision::quality::assess(&img);
                    n += 1;
                    passed += r.ok as u32;
                    smin = smin.min(r.metrics.sharpness);
                    smax = smax.max(r.metrics.sharpness);
                    if let Some(first) = r.retake() {
                        *seen.entry(first.reason.as_str()).or_default() += 1;
                    }
                    if let Some(want) = p.expected_retake() {
                        fired += r.issues.iter().any(|i| i.reason == want) as u32;
                    }
                }
            }
        }
        let expected = p
            .expected_retake()
            .map(|r| r.as_str())
            .unwrap_or("none (passes)");
        let fired = if p.expected_retake().is_some() {
            format!("{fired}/{n}")
        } else {
            "—".into()
        };
        println!(
            "| {} | {expected} | {fired} | {passed}/{n} | {seen:?} | {smin:.0}–{smax:.0} |",
            p.as_str()
        );
    }
    face_section()?;
    Ok(())
}

/// Face match rates at the engine's threshold and liveness on real photos vs simulated
/// attacks (the public-domain test photos; see docs/VISION.md for the limits).
fn face_section() -> Result<(), Box<dyn std::error::Error>> {
    let assets = kyc_flow_vision::assets::AssetPaths::discover()?;
    let e = kyc_flow_vision_testkit::face_eval::evaluate(&assets)?;
    println!();
    println!("## Face match at threshold {:.2}", e.match_threshold);
    println!();
    println!("| selfie | portrait | genuine | score | matched |");
    println!("|---|---|---|---|---|");
    for p in &e.pairs {
        println!(
            "| {} | {} | {} | {:.3} | {} |",
            p.selfie, p.portrait, p.genuine, p.score, p.matched
        );
    }
    println!();
    println!(
        "true match rate {:.3}, false match rate {:.3}, genuine min {:.3}, impostor max {:.3}",
        e.true_match_rate, e.false_match_rate, e.genuine_min, e.impostor_max
    );
    println!();
    println!(
        "## Liveness (threshold {:.2}; local, not certified)",
        e.live_threshold
    );
    println!();
    println!("| photo | presentation | score | live |");
    println!("|---|---|---|---|");
    for l in &e.liveness {
        println!(
            "| {} | {} | {:.3} | {} |",
            l.photo, l.presentation, l.score, l.live
        );
    }
    println!();
    println!(
        "real photos rejected {:.3} (BPCER on this set), simulated attacks accepted {:.3} (APCER on this set)",
        e.real_rejected_rate, e.attack_accepted_rate
    );
    println!("{}", e.limits);
    Ok(())
}

fn rate(ok: u32, n: u32) -> String {
    if n == 0 {
        "—".into()
    } else {
        format!("{ok}/{n}")
    }
}

/// Comparison ignores case, accents and repeated spaces (the MRZ and barcodes drop accents).
fn normalize(s: &str) -> String {
    s.to_uppercase()
        .chars()
        .map(|c| match c {
            'Á' => 'A',
            'É' => 'E',
            'Í' => 'I',
            'Ó' => 'O',
            'Ú' | 'Ü' => 'U',
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

mod pad {
    //! The `pad` and `pad-devset` subcommands.
    use kyc_flow_vision::assets::AssetPaths;
    use kyc_flow_vision::liveness::LocalLiveness;
    use kyc_flow_vision_testkit::pad_eval;
    use std::path::Path;

    /// `Some(exit code)` when `args` named a PAD subcommand and it ran.
    pub fn run(args: &[String]) -> Result<Option<i32>, Box<dyn std::error::Error>> {
        match args.first().map(String::as_str) {
            Some("pad-devset") => {
                let out = args.get(1).ok_or("usage: pad-devset OUT")?;
                let n = pad_eval::build_dev_set(&AssetPaths::discover()?, Path::new(out))?;
                println!("wrote {n} images under {out}");
                Ok(Some(0))
            }
            Some("pad") => {
                let dir = args.get(1).ok_or("usage: pad DIR [--json]")?;
                let checker = LocalLiveness::from_default_assets()?;
                let threshold = checker.config().live_threshold;
                let e = pad_eval::evaluate_folder(&checker, threshold, Path::new(dir))?;
                if args.iter().any(|a| a == "--json") {
                    println!("{}", serde_json::to_string_pretty(&e)?);
                    return Ok(Some(0));
                }
                print(&e);
                Ok(Some(0))
            }
            _ => Ok(None),
        }
    }

    fn print(e: &pad_eval::PadEvaluation) {
        println!("## Presentation-attack detection (local, not certified)\n");
        println!("| file | label | net 2.7 | net 4.0 | periodic | frame | black | fused | live |");
        println!("|---|---|---|---|---|---|---|---|---|");
        for s in &e.samples {
            match &s.report {
                Some(r) => {
                    let at = |k: f32| {
                        r.scales
                            .iter()
                            .find(|s| (s.scale - k).abs() < 1e-3)
                            .map_or("—".to_owned(), |s| format!("{:.3}", s.score))
                    };
                    println!(
                        "| {} | {} | {} | {} | {:.2} | {:.2} | {:.0} | {:.3} | {} |",
                        s.file,
                        s.label,
                        at(2.7),
                        at(4.0),
                        r.signals.periodic,
                        r.signals.frame,
                        r.signals.black_level,
                        r.score,
                        r.live
                    );
                }
                None => println!(
                    "| {} | {} | no face: {} | | | | | | |",
                    s.file,
                    s.label,
                    s.retake.as_deref().unwrap_or("")
                ),
            }
        }
        println!();
        for (name, r) in [
            ("fused score", &e.fused),
            ("network alone, 2.7× crop", &e.network_at_2_7),
        ] {
            println!(
                "{name} at {:.2}: APCER {:.3}, BPCER {:.3} ({} live, {} attacks scored)",
                r.threshold, r.apcer, r.bpcer, e.live_scored, e.attacks_scored
            );
            for (kind, (acc, n)) in &r.per_kind {
                println!("  {kind}: {acc}/{n} accepted");
            }
        }
        println!(
            "failures to acquire (no usable face): {} live, {} attacks",
            e.failures_to_acquire.0, e.failures_to_acquire.1
        );
    }
}

/// The lines recognised on one photo (text, confidence, box), then its `inspect image` JSON.
fn print_reading(a: &kyc_flow_vision::reader::Analysis) -> Result<(), Box<dyn std::error::Error>> {
    for l in &a.lines {
        println!(
            "  {:?} {:.2} [{:.0},{:.0} {:.0}x{:.0}]",
            l.text,
            l.confidence,
            l.bbox.x0,
            l.bbox.y0,
            l.bbox.x1 - l.bbox.x0,
            l.bbox.height()
        );
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&kyc_flow_vision::reader::analysis_json(a)?)?
    );
    Ok(())
}
