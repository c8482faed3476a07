//! The config digest recorded in saved plans.

use super::types::Config;

impl Config {
    /// A digest of the config's meaning (not its formatting or comments), recorded in saved
    /// plans so `apply FILE` can tell the config changed since the plan.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut canon = format!(
            "aws {:?}\npassword_policy {:?}\n",
            self.aws, self.password_policy
        );
        for set in self.sets.values() {
            let w = &set.windows;
            canon.push_str(&format!(
                "{} max_age={} overlap={} unused_for={} inactive_for={}\n",
                set.address,
                w.max_age.as_secs(),
                w.overlap.as_secs(),
                w.unused_for.as_secs(),
                w.inactive_for.as_secs()
            ));
            for sink in &set.sinks {
                canon.push_str(&format!("  sink {sink:?}\n"));
            }
            if let Some(source) = &set.certificate {
                canon.push_str(&format!("  certificate {source:?}\n"));
            }
        }
        let hash = Sha256::digest(canon.as_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}
