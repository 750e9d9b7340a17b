// skulk-generate: run one prompt through a compute plugin, loaded through the
// plugin registry exactly as the runner loads it.
//
//   skulk-generate --model FILE --prompt TEXT [-n N] [--temp T | --greedy]
//                  [--seed S] [--threads N] [--ctx N] [--chat] [--json]
//                  [--top-k-logits K --logits-at POS,...] [--prompt-ids 1,2,3]
//                  [--plugin-dir DIR] [--kv f16|f32|bf16] [--ignore-eos]
#include "engine/compute_session.hpp"
#include "engine/generate.hpp"
#include "log/logging.hpp"
#include "chat_template/chat_template.hpp"
#include "gguf/gguf.hpp"
#include "sampling/sampler.hpp"
#include "tokenizer/vocab.hpp"
#include "plugin/registry.hpp"

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

namespace po = boost::program_options;
using namespace skulk;

namespace {

struct Args {
    std::string model, prompt, prompt_ids, logits_at, plugin_dir, kv = "f16";
    int n_predict = 64, threads = 0, ctx = 0, top_k_logits = 0;
    float temp = 0.8f;
    bool greedy = false, json = false, chat = false, ignore_eos = false;
    std::optional<uint64_t> seed;
};

std::vector<int32_t> parse_ids(const std::string &s, const char *what) {
    std::vector<int32_t> out;
    std::stringstream in(s);
    for (std::string item; std::getline(in, item, ',');) {
        if (item.empty()) continue;
        size_t used = 0;
        long v = 0;
        try {
            v = std::stol(item, &used);
        } catch (const std::exception &) {
            used = 0;
        }
        if (used != item.size() || v < 0 || v > INT32_MAX)
            throw std::invalid_argument(std::string(what) + ": '" + item + "' is not a non-negative integer");
        out.push_back(static_cast<int32_t>(v));
    }
    return out;
}

skulk_kv_type parse_kv(const std::string &s) {
    if (s == "f16") return SKULK_KV_F16;
    if (s == "f32") return SKULK_KV_F32;
    if (s == "bf16") return SKULK_KV_BF16;
    throw std::invalid_argument("--kv: '" + s + "' is not f16, f32 or bf16");
}

std::vector<std::filesystem::path> plugin_dirs(const std::string &flag) {
    if (!flag.empty()) return {flag};
    if (const char *env = std::getenv("SKULK_PLUGIN_DIR"); env && *env) return {env};
    return {}; // the registry's defaults: the install's lib dir, then plugins/ next to the binary
}

std::vector<std::pair<int32_t, float>> top_k(const std::vector<float> &v, int k) {
    std::vector<int32_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    k = std::min<int>(k, static_cast<int>(v.size()));
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int32_t a, int32_t b) { return v[a] != v[b] ? v[a] > v[b] : a < b; });
    std::vector<std::pair<int32_t, float>> out;
    for (int i = 0; i < k; ++i) out.emplace_back(idx[i], v[idx[i]]);
    return out;
}

int run(const Args &a) {
    const auto file = model::GgufFile::open(a.model);

    std::unique_ptr<model::Vocab> vocab;
    std::string vocab_error;
    try {
        vocab = model::Vocab::from_gguf(*file);
    } catch (const std::exception &e) {
        vocab_error = e.what();
    }

    std::vector<int32_t> prompt;
    if (!a.prompt_ids.empty()) {
        prompt = parse_ids(a.prompt_ids, "--prompt-ids");
    } else {
        if (!vocab) throw std::runtime_error(a.model + ": no usable tokenizer (" + vocab_error + "); pass --prompt-ids");
        std::string text = a.prompt;
        bool parse_special = false;
        if (a.chat) {
            const auto tmpl = file->get_string("tokenizer.chat_template");
            if (!tmpl) throw std::runtime_error(a.model + ": --chat needs tokenizer.chat_template, which the file lacks");
            model::ChatTemplateOptions opts;
            if (vocab->bos() >= 0) opts.bos_token = vocab->token_to_piece(vocab->bos());
            if (vocab->eos() >= 0) opts.eos_token = vocab->token_to_piece(vocab->eos());
            model::ChatMessage user;
            user.role = "user";
            user.content = a.prompt;
            text = model::render_chat(*tmpl, {user}, opts);
            parse_special = true;
        }
        prompt = vocab->tokenize(text, /*add_special=*/true, parse_special);
    }
    if (prompt.empty()) throw std::runtime_error("the prompt has no tokens (give --prompt or --prompt-ids)");

    plugin::Registry registry(plugin_dirs(a.plugin_dir));
    registry.scan();
    auto plugin = registry.best(SKULK_KIND_COMPUTE, {"cpu_blas-cpu"});
    if (!plugin || !plugin->compute()) {
        std::string dirs;
        for (const auto &d : registry.dirs()) dirs += (dirs.empty() ? "" : ", ") + d.string();
        throw std::runtime_error("no usable compute plugin with tag cpu_blas-cpu in " + dirs + " (see --plugin-dir)");
    }

    engine::SessionOptions so;
    so.n_threads = static_cast<uint32_t>(a.threads);
    so.n_ctx = static_cast<uint32_t>(a.ctx);
    so.kv_type = parse_kv(a.kv);
    so.n_batch_max = 512;
    engine::ComputeSession session(plugin, plugin->compute(), file, 0, -1, SKULK_RANGE_EMBED | SKULK_RANGE_HEAD, so);
    for (int32_t id : prompt)
        if (id >= session.n_vocab())
            throw std::invalid_argument("--prompt-ids: token " + std::to_string(id) + " is outside the vocabulary of " +
                                        std::to_string(session.n_vocab()));

    engine::GenerationParams gp;
    gp.n_predict = a.n_predict;
    if (!a.logits_at.empty()) gp.logits_at = parse_ids(a.logits_at, "--logits-at");
    if (vocab && !a.ignore_eos)
        for (int32_t id = 0; id < static_cast<int32_t>(vocab->n_tokens()); ++id)
            if (vocab->is_eog(id)) gp.stop_tokens.push_back(id);

    std::unique_ptr<model::Sampler> sampler;
    if (!a.greedy && a.temp > 0) {
        model::SamplingParams sp;
        sp.temperature = a.temp;
        sp.seed = a.seed;
        sampler = std::make_unique<model::Sampler>(sp, static_cast<size_t>(session.n_vocab()));
        for (int32_t id : prompt) sampler->accept(id);
        gp.sample = [&](std::span<const float> logits) {
            const int32_t t = sampler->sample(logits.data());
            sampler->accept(t);
            return t;
        };
    }

    std::unique_ptr<model::StreamDecoder> stream;
    if (!a.json && vocab) {
        stream = std::make_unique<model::StreamDecoder>(*vocab);
        std::fputs(a.prompt_ids.empty() ? a.prompt.c_str() : vocab->detokenize(prompt, true).c_str(), stdout);
        std::fflush(stdout);
        gp.on_token = [&](int32_t t) {
            if (std::find(gp.stop_tokens.begin(), gp.stop_tokens.end(), t) != gp.stop_tokens.end()) return true;
            const std::string piece = stream->push(t);
            std::fwrite(piece.data(), 1, piece.size(), stdout);
            std::fflush(stdout);
            return true;
        };
    }

    const engine::GenerationResult r = engine::generate(session, prompt, gp);

    // The first decode step's token comes from the prefill's logits, so the
    // decode rate counts the tokens that needed their own forward pass.
    const int n_decoded = std::max(0, static_cast<int>(r.tokens.size()) - 1);
    const double prefill_tps = r.prefill_seconds > 0 ? r.n_prompt / r.prefill_seconds : 0;
    const double decode_tps = r.decode_seconds > 0 ? n_decoded / r.decode_seconds : 0;
    if (a.json) {
        nlohmann::json j;
        j["model"] = a.model;
        j["prompt_ids"] = prompt;
        j["generated_ids"] = r.tokens;
        if (vocab) {
            std::vector<int32_t> text_ids;
            for (int32_t t : r.tokens)
                if (std::find(gp.stop_tokens.begin(), gp.stop_tokens.end(), t) == gp.stop_tokens.end()) text_ids.push_back(t);
            j["text"] = vocab->detokenize(text_ids, true);
        }
        j["stop_reason"] = r.stop_reason;
        j["n_prompt"] = r.n_prompt;
        j["n_generated"] = r.tokens.size();
        j["prefill_seconds"] = r.prefill_seconds;
        j["decode_seconds"] = r.decode_seconds;
        j["prefill_tokens_per_s"] = prefill_tps;
        j["decode_tokens_per_s"] = decode_tps;
        j["plugin"] = plugin->record().name + " " + plugin->record().version;
        j["memory"] = nlohmann::json::parse(session.memory_json());
        nlohmann::json logits = nlohmann::json::array();
        for (const auto &l : r.logits) {
            nlohmann::json top = nlohmann::json::array();
            for (const auto &[id, v] : top_k(l.values, a.top_k_logits > 0 ? a.top_k_logits : 20))
                top.push_back({id, v});
            logits.push_back({{"pos", l.pos}, {"top", top}});
        }
        j["logits"] = logits;
        std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
        if (stream) {
            const std::string rest = stream->flush();
            std::fwrite(rest.data(), 1, rest.size(), stdout);
        } else {
            for (int32_t t : r.tokens) std::printf("%d ", t);
        }
        std::printf("\n");
        std::fprintf(stderr, "prompt %d tokens, %.1f tok/s; generated %zu tokens, %.1f tok/s (%s)\n", r.n_prompt,
                     prefill_tps, r.tokens.size(), decode_tps, r.stop_reason.c_str());
    }
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    Args a;
    po::options_description desc("skulk-generate: run one prompt through a compute plugin");
    // clang-format off
    desc.add_options()
        ("help,h", "show this help")
        ("model,m", po::value(&a.model)->required(), "GGUF model file")
        ("prompt,p", po::value(&a.prompt), "prompt text (tokenized with the model's vocabulary)")
        ("prompt-ids", po::value(&a.prompt_ids), "prompt as comma-separated token ids (instead of --prompt)")
        ("n,n", po::value(&a.n_predict)->default_value(64), "tokens to generate")
        ("temp", po::value(&a.temp)->default_value(0.8f), "sampling temperature (<= 0: greedy)")
        ("greedy", po::bool_switch(&a.greedy), "always take the most likely token")
        ("seed", po::value<uint64_t>(), "sampling seed (default: random)")
        ("threads,t", po::value(&a.threads)->default_value(0), "engine threads (0: all cores)")
        ("ctx,c", po::value(&a.ctx)->default_value(0), "context length (0: the model's, at most 4096)")
        ("kv", po::value(&a.kv)->default_value("f16"), "KV cache type: f16, f32, bf16")
        ("chat", po::bool_switch(&a.chat), "wrap the prompt in the model's chat template as one user turn")
        ("ignore-eos", po::bool_switch(&a.ignore_eos), "keep generating after end-of-generation tokens")
        ("json", po::bool_switch(&a.json), "print one JSON object: ids, text, logits, speeds")
        ("top-k-logits", po::value(&a.top_k_logits)->default_value(20), "logits to print per --logits-at position")
        ("logits-at", po::value(&a.logits_at), "input positions whose top logits to print (comma-separated)")
        ("plugin-dir", po::value(&a.plugin_dir), "plugin directory (default: SKULK_PLUGIN_DIR, then the defaults)")
        ("verbose,v", po::value<int>()->default_value(0)->implicit_value(1), "log verbosity");
    // clang-format on
    try {
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help")) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(vm);
        if (vm.count("seed")) a.seed = vm["seed"].as<uint64_t>();
        if (a.prompt.empty() && a.prompt_ids.empty()) throw std::invalid_argument("give --prompt or --prompt-ids");
        if (a.n_predict < 0) throw std::invalid_argument("-n must be >= 0");
        log::init(vm["verbose"].as<int>() - 1);
        return run(a);
    } catch (const po::error &e) {
        std::cerr << "skulk-generate: " << e.what() << "\n\n" << desc << "\n";
        return 2;
    } catch (const std::invalid_argument &e) {
        std::cerr << "skulk-generate: " << e.what() << "\n";
        return 2;
    } catch (const std::exception &e) {
        std::cerr << "skulk-generate: " << e.what() << "\n";
        return 1;
    }
}
