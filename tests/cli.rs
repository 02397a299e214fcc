//! CLI transcripts: `tests/cmd/*.toml` run the real binary and compare exit code, stdout and
//! stderr. Update with `TRYCMD=overwrite cargo test --test cli`, then read the diff.

#[test]
fn cli_transcripts() {
    trycmd::TestCases::new()
        .env("NO_COLOR", "1")
        .case("tests/cmd/*.toml");
}
