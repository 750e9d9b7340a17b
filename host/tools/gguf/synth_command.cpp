// `synth`: flags -> SynthOptions -> skulk::model::synth_model.
#include "commands.hpp"

#include "gguf/synth.hpp"

#include <boost/program_options.hpp>

#include <iostream>
#include <stdexcept>

namespace skulk::tools::gguf {

namespace po = boost::program_options;

int synth_command(const std::vector<std::string> &args) {
    model::SynthOptions o;
    std::string shape_name, out;
    model::SynthShape custom;
    po::options_description desc("skulk-gguf synth");
    desc.add_options()
        ("arch", po::value(&o.arch)->default_value("llama"), "llama | qwen2 | qwen3")
        ("shape", po::value(&shape_name)->required(), "smollm2-135m | qwen2.5-0.5b | tinyllama-1.1b | custom")
        ("type", po::value(&o.type)->default_value("F32"), "F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K Q4_K_M Q5_K_M")
        ("vocab-from", po::value<std::string>()->required(), "GGUF whose tokenizer.* keys are copied")
        ("seed", po::value(&o.seed)->default_value(1), "random seed")
        ("std", po::value(&o.std)->default_value(0.05f), "weight std of the matrices")
        ("embd-std", po::value(&o.embd_std)->default_value(0.05f), "weight std of token_embd")
        ("name", po::value(&o.name)->default_value("synthetic"), "general.name")
        ("n-embd", po::value(&custom.n_embd), "custom: embedding width")
        ("n-layer", po::value(&custom.n_layer), "custom: blocks")
        ("n-head", po::value(&custom.n_head), "custom: attention heads")
        ("n-head-kv", po::value(&custom.n_head_kv), "custom: KV heads (default n-head)")
        ("n-ff", po::value(&custom.n_ff), "custom: feed-forward width")
        ("head-dim", po::value(&custom.head_dim), "custom: head size (default n-embd / n-head)")
        ("ctx", po::value(&custom.n_ctx), "custom: training context")
        ("theta", po::value(&custom.rope_theta), "custom: rope base")
        ("eps", po::value(&custom.rms_eps), "custom: RMS norm epsilon")
        ("tied", po::bool_switch(&custom.tied), "custom: output shares token_embd")
        ("qkv-bias", po::bool_switch(&custom.qkv_bias), "custom: q/k/v biases")
        ("out", po::value(&out)->required(), "output file");
    po::positional_options_description positional;
    positional.add("out", 1);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error &e) {
        std::cerr << "skulk-gguf synth: " << e.what() << "\n" << desc << "\n";
        return 2;
    }
    o.vocab_from = vm["vocab-from"].as<std::string>();
    if (shape_name == "custom") {
        o.shape = custom;
    } else {
        o.shape = model::preset_shape(shape_name);
        for (const char *k : {"n-embd", "n-layer", "n-head", "n-head-kv", "n-ff", "head-dim"})
            if (vm.count(k)) throw std::invalid_argument(std::string("--") + k + " only goes with --shape custom");
    }
    model::synth_model(o, out);
    std::cout << out << "\n";
    return 0;
}

} // namespace skulk::tools::gguf
