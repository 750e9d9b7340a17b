// The model routes on a real HTTP server (loopback, a free port), driven
// with libcurl: list, add (JSON and TOML), validation errors, delete.
#include "api/http_server.hpp"
#include "api/model_routes.hpp"
#include "card_test_util.hpp"

#include <curl/curl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace skulk;
using namespace skulk::cards::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Reply {
    long status = 0;
    std::string body;
    json j() const { return json::parse(body); }
};

size_t collect(char *p, size_t size, size_t n, void *out) {
    static_cast<std::string *>(out)->append(p, size * n);
    return size * n;
}

struct RoutesFixture : ::testing::Test {
    TempDir tmp;
    fs::path builtin, custom, models, model_file;
    std::unique_ptr<cards::CardStore> store;
    std::unique_ptr<api::HttpServer> server;

    void SetUp() override {
        builtin = tmp.path / "builtin";
        custom = tmp.path / "custom_cards";
        fs::create_directories(builtin);
        fs::copy_file(data_dir() / "good.toml", builtin / "good.toml");
        fs::copy_file(data_dir() / "hf.toml", builtin / "hf.toml");
        fs::copy_file(data_dir() / "syntax.toml", builtin / "syntax.toml"); // skipped, the daemon still serves
        store = std::make_unique<cards::CardStore>(builtin, custom);
        store->reload();
        models = tmp.path / "models";
        fs::create_directories(models);
        model_file = models / "x.gguf";
        fs::copy_file(fs::path(SKULK_TEST_SOURCE_DIR) / "cards/models/stories260K.gguf", model_file);
        store->set_model_dirs({models});
        api::HttpOptions o;
        o.bind_address = "127.0.0.1";
        o.port = 0;
        o.threads = 4;
        server = std::make_unique<api::HttpServer>(o);
        api::register_model_routes(*server, *store);
        server->start();
    }
    void TearDown() override { server->stop(); }

    Reply request(const std::string &method, const std::string &path, const std::string &body = {}) {
        Reply r;
        CURL *c = curl_easy_init();
        const std::string url = "http://127.0.0.1:" + std::to_string(server->bound_port()) + path;
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
        curl_slist *headers = curl_slist_append(nullptr, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        if (method == "POST") {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, long(body.size()));
        }
        const CURLcode rc = curl_easy_perform(c);
        EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        curl_slist_free_all(headers);
        curl_easy_cleanup(c);
        return r;
    }

    // A custom card whose model file is a real GGUF inside the model folder.
    json custom_card_json(const std::string &id) const {
        return {{"model_id", id},
                {"name", "Custom " + id},
                {"family", "llama"},
                {"n_layers", 2},
                {"context_length", 256},
                {"tasks", {"TextGeneration"}},
                {"source", {{"path", model_file.string()}}},
                {"placement", {{"compatible_backends", {"cpu_blas-cpu"}}, {"max_context_tokens", nullptr}}}};
    }

    json find_model(const std::string &id) {
        const auto list = request("GET", "/v1/models").j();
        for (const auto &m : list["data"])
            if (m["id"] == id) return m;
        return nullptr;
    }
};

void expect_envelope(const Reply &r, long status, const std::string &message_part) {
    EXPECT_EQ(r.status, status) << r.body;
    const json j = json::parse(r.body);
    ASSERT_TRUE(j.contains("error")) << r.body;
    EXPECT_TRUE(j["error"].contains("type"));
    EXPECT_TRUE(j["error"]["code"].is_string()) << "code is always a string: " << r.body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(message_part), std::string::npos) << r.body;
}

} // namespace

TEST_F(RoutesFixture, ListsCardsInTheOpenAIShape) {
    for (const char *path : {"/v1/models", "/models"}) {
        const Reply r = request("GET", path);
        ASSERT_EQ(r.status, 200) << r.body;
        const json j = r.j();
        EXPECT_EQ(j["object"], "list");
        ASSERT_EQ(j["data"].size(), 2u) << "the broken card is skipped";
        std::set<std::string> ids;
        for (const auto &m : j["data"]) {
            ids.insert(m["id"].get<std::string>());
            EXPECT_EQ(m["object"], "model");
            EXPECT_EQ(m["owned_by"], "skulk");
            EXPECT_GT(m["created"].get<int64_t>(), 0);
            EXPECT_EQ(m["is_custom"], false);
        }
        EXPECT_EQ(ids, (std::set<std::string>{"tiny-good", "org/tiny-hf:Q4_K_M"}));
    }
    const Reply one = request("GET", "/v1/models/org/tiny-hf:Q4_K_M");
    ASSERT_EQ(one.status, 200) << one.body;
    EXPECT_EQ(one.j()["id"], "org/tiny-hf:Q4_K_M");
    expect_envelope(request("GET", "/v1/models/missing"), 404, "missing");
    EXPECT_EQ(request("GET", "/v1/models/missing").j()["error"]["code"], "model_not_found");
    const json good = find_model("tiny-good");
    EXPECT_EQ(good["n_layers"], 5);
    EXPECT_EQ(good["context_length"], 512);
    EXPECT_EQ(good["placement"]["compatible_backends"][0], "cpu_blas-cpu");
    EXPECT_EQ(good["source"]["path"], (builtin / "models/tiny.gguf").string());
}

TEST_F(RoutesFixture, AddsACustomCardFromJsonAndDeletesIt) {
    const Reply add = request("POST", "/models/add", custom_card_json("me/custom-1").dump());
    ASSERT_EQ(add.status, 200) << add.body;
    EXPECT_EQ(add.j()["model_card"]["id"], "me/custom-1");
    const json m = find_model("me/custom-1");
    ASSERT_FALSE(m.is_null());
    EXPECT_EQ(m["is_custom"], true);
    EXPECT_EQ(m["n_layers"], 2);
    EXPECT_TRUE(fs::exists(custom / cards::card_file_name("me/custom-1")));
    // A slash in the id: plain and percent-encoded both reach the card.
    const Reply del = request("DELETE", "/models/custom/me/custom-1");
    EXPECT_EQ(del.status, 200) << del.body;
    EXPECT_TRUE(find_model("me/custom-1").is_null());
    ASSERT_EQ(request("POST", "/models/add", custom_card_json("me/custom-2").dump()).status, 200);
    EXPECT_EQ(request("DELETE", "/models/custom/me%2Fcustom-2").status, 200);
    EXPECT_TRUE(find_model("me/custom-2").is_null());
}

TEST_F(RoutesFixture, AddsACustomCardFromToml) {
    const std::string toml = "model_id = \"from-toml\"\nn_layers = 3\n[source]\nhf_repo = \"o/r\"\nhf_file = \"f.gguf\"\n"
                             "[placement]\ncompatible_backends = [\"cpu_blas-cpu\"]\n";
    const Reply add = request("POST", "/models/add", json{{"toml", toml}}.dump());
    ASSERT_EQ(add.status, 200) << add.body;
    const json m = find_model("from-toml");
    ASSERT_FALSE(m.is_null());
    EXPECT_EQ(m["source"]["hf_repo"], "o/r");
    // Survives a restart of the store.
    cards::CardStore again(builtin, custom);
    again.reload();
    EXPECT_TRUE(again.find("from-toml"));
}

TEST_F(RoutesFixture, InvalidCardsAre400WithTheField) {
    expect_envelope(request("POST", "/models/add", "{nope"), 400, "invalid JSON");
    expect_envelope(request("POST", "/models/add", "[1]"), 400, "JSON object");
    auto bad_type = custom_card_json("bad");
    bad_type["n_layers"] = "two";
    expect_envelope(request("POST", "/models/add", bad_type.dump()), 400, "n_layers");
    auto no_id = custom_card_json("x");
    no_id.erase("model_id");
    expect_envelope(request("POST", "/models/add", no_id.dump()), 400, "model_id");
    auto bad_tag = custom_card_json("x");
    bad_tag["placement"]["compatible_backends"] = {"GPU please"};
    expect_envelope(request("POST", "/models/add", bad_tag.dump()), 400, "placement.compatible_backends[0]");
    expect_envelope(request("POST", "/models/add", json{{"toml", "model_id = = 1"}}.dump()), 400, "request body (toml):1");
    EXPECT_EQ(request("GET", "/v1/models").j()["data"].size(), 2u) << "nothing was added";
}

TEST_F(RoutesFixture, BuiltinCardsCannotBeReplacedOrDeleted) {
    expect_envelope(request("POST", "/models/add", custom_card_json("tiny-good").dump()), 409, "built-in");
    expect_envelope(request("DELETE", "/models/custom/tiny-good"), 409, "built-in");
    expect_envelope(request("DELETE", "/models/custom/no-such-model"), 404, "no-such-model");
    EXPECT_FALSE(find_model("tiny-good").is_null());
}

TEST_F(RoutesFixture, ModelFilesOutsideTheModelFoldersAreRefusedBeforeBeingOpened) {
    const fs::path outside = tmp.path / "outside";
    fs::create_directories(outside);
    fs::copy_file(model_file, outside / "m.gguf");
    fs::create_symlink(outside / "m.gguf", models / "link.gguf"); // inside by name, outside for real
    for (const std::string &path : {std::string("/etc/shadow"), (outside / "m.gguf").string(),
                                   (models / ".." / "outside" / "m.gguf").string(), (models / "link.gguf").string()}) {
        auto card = custom_card_json("escape");
        card["source"]["path"] = path;
        const Reply r = request("POST", "/models/add", card.dump());
        expect_envelope(r, 400, "model files may come only from " + models.string());
        EXPECT_EQ(r.j()["error"]["code"], "model_path_not_allowed");
        EXPECT_EQ(r.j()["error"]["param"], "source.path");
    }
    EXPECT_TRUE(find_model("escape").is_null());
}

TEST_F(RoutesFixture, MissingOrCorruptModelFilesAreRefusedWithTheReason) {
    auto missing = custom_card_json("missing");
    missing["source"]["path"] = (models / "nope.gguf").string();
    const Reply m = request("POST", "/models/add", missing.dump());
    expect_envelope(m, 400, "does not exist");
    EXPECT_EQ(m.j()["error"]["code"], "model_file_invalid");
    EXPECT_EQ(m.j()["error"]["param"], "source.path");
    { std::ofstream(models / "bad.gguf") << "GGUF but not really"; }
    auto corrupt = custom_card_json("corrupt");
    corrupt["source"]["path"] = (models / "bad.gguf").string();
    expect_envelope(request("POST", "/models/add", corrupt.dump()), 400, "not a valid GGUF");
    fs::create_directories(models / "dir.gguf");
    corrupt["source"]["path"] = (models / "dir.gguf").string();
    expect_envelope(request("POST", "/models/add", corrupt.dump()), 400, "not a regular file");
}

TEST_F(RoutesFixture, ModelIdsWithDotDotOrExtraSlashesAreRefused) {
    for (const char *id : {"a/../b", "..", "x..y", "a/b/c", "/a", "a/", "a//b"}) {
        const Reply r = request("POST", "/models/add", custom_card_json(id).dump());
        expect_envelope(r, 400, "model_id");
        EXPECT_EQ(r.j()["error"]["param"], "model_id") << id;
    }
    EXPECT_EQ(request("POST", "/models/add", custom_card_json("org/name:q4.v1").dump()).status, 200);
}

TEST_F(RoutesFixture, BodiesThatAreNotUtf8Are400WithTheEnvelope) {
    const Reply r = request("POST", "/models/add", std::string("{\"model_id\":\"\xff\"}"));
    expect_envelope(r, 400, "not valid UTF-8");
    EXPECT_EQ(r.j()["error"]["code"], "invalid_utf8");
    EXPECT_EQ(r.j()["error"]["param"], "body");
    // A path with such bytes still gets its 404 (the message's bytes are replaced, not a 500).
    const Reply p = request("GET", "/v1/models/%FF");
    EXPECT_EQ(p.status, 404) << p.body;
}
