//! `RepoRef::parse` over the spellings users and web frontends send (every
//! `/download_progress?model_name=` poll parses one), valid and invalid alike.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hf_cache_exporter::repo_ref::RepoRef;

const INPUTS: &[&str] = &[
    "meta-llama/Llama-3.1-8B",
    "gpt2",
    "models--BAAI--bge-small-en-v1.5",
    "https://huggingface.co/TheBloke/Mistral-7B-Instruct-v0.2-GGUF/resolve/main/mistral-7b-instruct-v0.2.Q4_K_M.gguf",
    "https://huggingface.co/datasets/HuggingFaceFW/fineweb/tree/main/data",
    "datasets/org/name",
    "spaces/org/demo",
    "hf://datasets/org/name",
    "TheBloke/Mistral-7B-Instruct-v0.2-GGUF/mistral-7b-instruct-v0.2.Q4_K_M.gguf",
    "org/name@refs/pr/1",
    "Qwen/Qwen2.5-7B-Instruct@a09a35458c702b33eeacc393d103063234e8bc28",
    // Invalid: each must be rejected, which costs as much as accepting.
    "bad--id",
    "org/../etc",
    "",
    "a/b-",
];

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("repo_ref_parse");
    g.throughput(Throughput::Elements(INPUTS.len() as u64));
    g.bench_function("mixed_inputs", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for input in INPUTS {
                ok += usize::from(RepoRef::parse(black_box(input), None).is_ok());
            }
            ok
        })
    });
    g.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
