#[test]
fn probe_depth() {
    for depth in [10usize, 50, 100, 200, 500, 1000, 2000, 5000, 10000] {
        for (open, close) in [("[", "]"), ("{", "}"), ("(", ")")] {
            let text = format!(
                "defaults {{\n  max_age = {}{}\n}}\n",
                open.repeat(depth),
                close.repeat(depth)
            );
            let h = std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn(move || {
                    let t = std::time::Instant::now();
                    let r = keyrot::config::parse(&[keyrot::config::Source {
                        name: "x.hcl".into(),
                        text,
                    }]);
                    (t.elapsed(), r.err().map(|d| d[0].to_string()))
                })
                .unwrap();
            let (el, r) = h.join().unwrap();
            println!("{open} {depth}: {el:?} {r:?}");
        }
    }
}
