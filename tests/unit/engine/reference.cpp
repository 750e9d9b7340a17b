#include "unit/engine/reference.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace skulk::test {

namespace fs = std::filesystem;

fs::path shared_dir() {
    const char *s = std::getenv("SKULK_SHARED_DIR");
    return fs::weakly_canonical(s ? fs::path(s) : fs::path("../shared"));
}

fs::path build_dir() {
    const char *s = std::getenv("SKULK_BUILD_DIR");
    return s ? fs::path(s) : fs::current_path() / "build";
}

Reference load_reference(const std::string &stem) {
    const fs::path path = shared_dir() / "conformance" / (stem + ".json");
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    const nlohmann::json j = nlohmann::json::parse(in);
    Reference r;
    r.stem = stem;
    r.kind = j.at("reference_kind").get<std::string>();
    r.shipped = j.at("model_shipped").get<bool>();
    r.model_file = j.at("model").at("file").get<std::string>();
    r.model_sha256 = j.at("model").at("sha256").get<std::string>();
    r.n_vocab = j.at("model").at("n_vocab").get<int>();
    if (j.contains("regenerate")) r.regenerate = j.at("regenerate").get<std::string>();
    for (const auto &p : j.at("prompts")) {
        RefPrompt rp;
        rp.index = p.at("index").get<int>();
        rp.prompt_tokens = p.at("prompt_tokens").get<std::vector<int32_t>>();
        rp.generated = p.at("generated").at("ids").get<std::vector<int32_t>>();
        for (const auto &q : p.at("positions")) {
            RefPosition x;
            x.step = q.at("step").get<int>();
            x.pos = q.at("pos").get<int>();
            x.input_token = q.at("input_token").get<int32_t>();
            x.argmax = q.at("argmax").get<int32_t>();
            x.top1_margin = q.at("top1_margin").get<double>();
            x.mean = q.at("mean").get<double>();
            x.std = q.at("std").get<double>();
            x.max = q.at("max").get<double>();
            x.logsumexp = q.at("logsumexp").get<double>();
            for (const auto &t : q.at("top")) x.top.emplace_back(t.at(0).get<int32_t>(), static_cast<float>(t.at(1).get<double>()));
            rp.positions.push_back(std::move(x));
        }
        if (p.contains("logits_bin")) {
            const fs::path bin = shared_dir() / "conformance" / p.at("logits_bin").at("file").get<std::string>();
            if (fs::exists(bin)) rp.logits_bin = bin;
        }
        r.prompts.push_back(std::move(rp));
    }
    return r;
}

std::vector<float> load_logits(const fs::path &bin, int n_vocab) {
    std::ifstream in(bin, std::ios::binary);
    std::vector<float> v(n_vocab);
    in.read(reinterpret_cast<char *>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
    if (!in || in.gcount() != static_cast<std::streamsize>(v.size() * sizeof(float)))
        throw std::runtime_error(bin.string() + ": expected " + std::to_string(n_vocab) + " float32 logits");
    return v;
}

std::string sha256_of(const fs::path &file) {
    const std::string cmd = "sha256sum '" + file.string() + "'";
    FILE *f = popen(cmd.c_str(), "r");
    if (!f) throw std::runtime_error("cannot run sha256sum");
    char buf[128] = {};
    const size_t n = fread(buf, 1, 64, f);
    pclose(f);
    return std::string(buf, n);
}

fs::path model_path(const Reference &ref) {
    if (ref.shipped) return shared_dir() / "models" / ref.model_file;
    if (ref.regenerate.empty()) throw std::runtime_error(ref.stem + ": model not shipped and no regenerate command");
    const fs::path dir = build_dir() / "test-models";
    const fs::path out = dir / ref.model_file;
    if (fs::exists(out) && sha256_of(out) == ref.model_sha256) return out;
    fs::create_directories(dir);
    // The command names shared/models/<file> as its output and runs from the
    // directory that holds shared/: keep every argument, send the output to
    // a private temporary, publish it by rename (atomic, so racing test
    // processes never see a half-written model).
    std::istringstream words(ref.regenerate);
    std::vector<std::string> argv;
    for (std::string w; words >> w;) argv.push_back(w);
    if (argv.size() < 4 || argv[0] != "python3" || argv[2] != "model")
        throw std::runtime_error(ref.stem + ": unexpected regenerate command: " + ref.regenerate);
    const fs::path tmp = dir / (ref.model_file + ".tmp." + std::to_string(getpid()));
    argv[0] = "/usr/bin/python3";
    argv[3] = tmp.string();
    std::string cmd = "cd '" + shared_dir().parent_path().string() + "' &&";
    for (const auto &a : argv) cmd += " '" + a + "'";
    cmd += " >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error(ref.stem + ": regenerating the model failed: " + cmd);
    const std::string got = sha256_of(tmp);
    if (got != ref.model_sha256) {
        fs::remove(tmp);
        throw std::runtime_error(ref.stem + ": regenerated model has sha256 " + got + ", the reference names " + ref.model_sha256);
    }
    fs::rename(tmp, out);
    return out;
}

} // namespace skulk::test
