//! The session file: `serde_json::from_slice::<cache::Session>` and the
//! corrupt-file path `cache::file::read_json` / `Cache::load_session`.
//! Any bytes on disk give a session or "absent", never a panic, and a
//! session that parses survives a write/read round trip unchanged.
#![no_main]

use entra_cred_core::cache::{file, Cache, Session, SessionKey};
use entra_cred_core::Secret;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("entra-cred-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(d.join("sessions"));
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let parsed = serde_json::from_slice::<Session>(data);
    if let Ok(s) = &parsed {
        let again = serde_json::to_vec(s).expect("a parsed session serialises");
        let back: Session = serde_json::from_slice(&again).expect("and parses back");
        assert_eq!(
            serde_json::to_value(&back).expect("value"),
            serde_json::to_value(s).expect("value")
        );
        // Debug output does not depend on the tokens' values (so cannot show them).
        let mut blank = s.clone();
        for t in blank.tokens.values_mut() {
            t.access_token = Secret::new(String::new());
        }
        assert_eq!(format!("{s:?}"), format!("{blank:?}"), "token in Debug");
    }

    // The same bytes as a file on disk, read the way the broker reads it.
    let key = SessionKey {
        authority: "https://login.microsoftonline.com".into(),
        tenant: "organizations".into(),
        client_id: "04b07795-8ddb-461a-bbee-02f9e1bf7b46".into(),
    };
    let cache = Cache::at(dir().clone());
    let path = cache.state_path("sessions", &key.id());
    std::fs::write(&path, data).expect("write the session file");
    let from_file: Option<Session> = file::read_json(&path);
    assert_eq!(from_file.is_some(), parsed.is_ok());
    if let Some(mut s) = cache.load_session(&key) {
        s.prune(1_795_000_000);
        let _ = Session::slot(&s.tenant, "x/.default");
    }
    let _ = cache.sessions();
});
