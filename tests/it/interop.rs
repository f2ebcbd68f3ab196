//! Other client libraries against a real node: redis-py (RESP2 and RESP3). scripts/test.sh
//! installs it from PyPI; without it the test is skipped unless TESSERA_REQUIRE_REDIS=1.

use std::process::Command;

use crate::common::TestServer;

fn redis_py_available() -> bool {
    Command::new("python3")
        .args(["-c", "import redis"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn redis_py_resp2_and_resp3() {
    if !redis_py_available() {
        if std::env::var("TESSERA_REQUIRE_REDIS").is_ok_and(|v| v == "1") {
            panic!("the redis-py package is required (pip install redis)");
        }
        eprintln!("redis-py not installed: skipping");
        return;
    }
    let s = TestServer::tessera(&[]);
    let script = format!(
        "{}/tests/interop/redis_py_smoke.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new("timeout")
        .args(["60", "python3", &script, &s.port.to_string()])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "redis-py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
