//! Evaluation of the document pipeline on the synthetic set (work in progress).
use kyc_flow_core::evidence::Side;
use kyc_flow_vision::synth::{self, Perturbation, SampleKind};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("dump") {
        let dir = std::path::PathBuf::from(args.get(2).cloned().unwrap_or_else(|| "/tmp/synth".into()));
        std::fs::create_dir_all(&dir).unwrap();
        for kind in SampleKind::ALL {
            for side in [Side::Front, Side::Back] {
                for p in Perturbation::ALL {
                    let s = synth::generate(kind, side, 1, p).unwrap();
                    let name = format!("{}-{:?}-{}.jpg", kind.country(), side, p.as_str());
                    std::fs::write(dir.join(name), &s.image).unwrap();
                }
            }
        }
    }
}
