#include "runner/scheduler.hpp"

#include "log/logging.hpp"
#include "runner/protocol.hpp"

#include <algorithm>

namespace skulk::runner {

using clock = std::chrono::steady_clock;

Scheduler::Scheduler(engine::ComputeSession &session, const model::Vocab &vocab, const model::ChatTemplate *chat_template,
                     model::ChatTemplateOptions template_options, RequestQueue &inbox, EventOutlet &outlet,
                     SchedulerOptions options)
    : session_(session), vocab_(vocab), template_(chat_template), template_options_(std::move(template_options)),
      inbox_(inbox), outlet_(outlet), options_(options), n_ctx_(static_cast<int32_t>(session.n_ctx())),
      n_vocab_(session.n_vocab()) {
    const uint32_t n_seq = session.n_seq_max();
    const uint32_t n_batch = session.n_batch_max();
    options_.prefill_chunk = std::max<uint32_t>(1, std::min(options_.prefill_chunk, n_batch > n_seq ? n_batch - n_seq : 1));
    for (uint32_t s = n_seq; s-- > 0;) free_slots_.push_back(s); // slot 0 first
    active_.reserve(n_seq);
    tok_.resize(n_batch);
    pos_.resize(n_batch);
    seq_.resize(n_batch);
    want_.resize(n_batch);
    // A step wants at most one logits row per sequence in it.
    logits_.resize(static_cast<size_t>(n_seq) * static_cast<size_t>(n_vocab_));
}

void Scheduler::run() {
    auto log = log::get("runner");
    for (;;) {
        const bool idle = active_.empty() && waiting_.empty();
        // Idle: sleep until a command (or a keepalive is due); busy: just look.
        const auto wait = idle ? options_.keepalive_interval : std::chrono::milliseconds(0);
        if (!inbox_.take(commands_, wait)) break;
        for (Command &c : commands_) handle(c);
        reap();
        start_waiting();
        send_keepalives();
        if (!active_.empty()) step();
        reap();
    }
    // Shutdown: every request still here ends with a retryable error.
    for (auto &s : active_) fail(*s, 500, "runner_stopping", "the runner is shutting down; the request may be retried");
    for (auto &s : waiting_) fail(*s, 500, "runner_stopping", "the runner is shutting down; the request may be retried");
    reap();
    log->info("scheduler stopped");
}

void Scheduler::handle(Command &c) {
    switch (c.op) {
    case Command::Op::generate: admit(c); return;
    case Command::Op::cancel: cancel(c.client, &c.command_id); return;
    case Command::Op::client_gone: cancel(c.client, nullptr); return;
    }
}

bool Scheduler::tokenize(const Command &c, std::vector<int32_t> &tokens, std::string &error) const {
    const GenerateRequest &r = c.request;
    try {
        if (r.chat) {
            if (!template_) {
                error = "request.messages: this model has no chat template; use a completion request";
                return false;
            }
            model::ChatTemplateOptions opts = template_options_;
            opts.add_generation_prompt = true;
            opts.tools_json = r.tools_json;
            tokens = vocab_.tokenize(template_->render(r.messages, opts), /*add_special=*/true, /*parse_special=*/true);
        } else {
            tokens = vocab_.tokenize(r.prompt, /*add_special=*/true, /*parse_special=*/false);
        }
    } catch (const std::exception &e) {
        error = std::string(r.chat ? "request.messages: the chat template failed: " : "request.prompt: ") + e.what();
        return false;
    }
    if (tokens.empty()) {
        error = r.chat ? "request.messages: the rendered prompt has no tokens" : "request.prompt: the prompt has no tokens";
        return false;
    }
    return true;
}

void Scheduler::admit(Command &c) {
    auto reject = [&](int status, const char *code, const std::string &message) {
        outlet_.send(c.client, error_event(c.command_id, status, code, message));
    };
    auto same = [&](const std::unique_ptr<Sequence> &s) { return s->command_id == c.command_id && !s->finished; };
    if (std::any_of(active_.begin(), active_.end(), same) || std::any_of(waiting_.begin(), waiting_.end(), same))
        return reject(400, "invalid_request_error", "command_id: '" + c.command_id + "' is already running");

    const GenerateRequest &r = c.request;
    for (const auto &[id, bias] : r.logit_bias)
        if (id >= n_vocab_)
            return reject(400, "invalid_request_error",
                          "request.logit_bias: token " + std::to_string(id) + " is outside the vocabulary of " +
                              std::to_string(n_vocab_));
    std::vector<int32_t> tokens;
    std::string error;
    if (!tokenize(c, tokens, error)) return reject(400, "invalid_request_error", error);
    const int64_t n_prompt = static_cast<int64_t>(tokens.size());
    const int64_t wanted = r.max_tokens ? *r.max_tokens : 1;
    if (n_prompt + wanted > n_ctx_) {
        const std::string msg =
            "This model's maximum context length is " + std::to_string(n_ctx_) + " tokens. However, you requested " +
            std::to_string(n_prompt + wanted) + " tokens (" + std::to_string(n_prompt) + " in the " +
            (r.chat ? "messages" : "prompt") + ", " + std::to_string(wanted) +
            " in the completion). Please reduce the length of the " + (r.chat ? "messages" : "prompt") +
            " or completion.";
        return reject(400, "context_length_exceeded", msg);
    }

    auto s = std::make_unique<Sequence>(vocab_, r.stop);
    s->client = c.client;
    s->command_id = c.command_id;
    s->prompt = std::move(tokens);
    s->n_prompt = static_cast<int32_t>(n_prompt);
    s->max_tokens = r.max_tokens ? *r.max_tokens : -1;
    model::SamplingParams sp;
    if (r.temperature) sp.temperature = *r.temperature;
    if (r.top_p) sp.top_p = *r.top_p;
    if (r.top_k) sp.top_k = *r.top_k;
    if (r.min_p) sp.min_p = *r.min_p;
    if (r.presence_penalty) sp.presence_penalty = *r.presence_penalty;
    if (r.frequency_penalty) sp.frequency_penalty = *r.frequency_penalty;
    if (r.repetition_penalty) sp.repeat_penalty = *r.repetition_penalty;
    sp.seed = r.seed;
    sp.logit_bias = r.logit_bias;
    s->sampler = std::make_unique<model::Sampler>(sp, static_cast<size_t>(n_vocab_));
    for (int32_t t : s->prompt) s->sampler->accept(t);
    s->last_event = clock::now();
    emit(*s, start_event(s->command_id, s->n_prompt));
    waiting_.push_back(std::move(s));
}

void Scheduler::cancel(const std::string &client, const std::string *command_id) {
    auto match = [&](const Sequence &s) {
        return !s.finished && s.client == client && (!command_id || s.command_id == *command_id);
    };
    // Text held back for stop strings is not released: the client asked to stop.
    auto end = [&](Sequence &s) {
        if (!match(s)) return;
        if (!command_id) log::get("runner")->info("{}: the client is gone; cancelled", s.command_id);
        finish(s, "cancelled", false);
    };
    for (auto &s : active_) end(*s);
    for (auto &s : waiting_) end(*s);
}

void Scheduler::start_waiting() {
    while (!waiting_.empty() && !free_slots_.empty()) {
        std::unique_ptr<Sequence> s = std::move(waiting_.front());
        waiting_.pop_front();
        s->slot = free_slots_.back();
        free_slots_.pop_back();
        session_.seq_drop(s->slot, 0, -1);
        s->state = Sequence::State::prefilling;
        active_.push_back(std::move(s));
    }
}

void Scheduler::send_keepalives() {
    const auto now = clock::now();
    auto due = [&](Sequence &s) {
        if (s.finished || s.state == Sequence::State::decoding || now - s.last_event < options_.keepalive_interval) return;
        emit(s, keepalive_event(s.command_id));
        s.last_event = now;
    };
    for (auto &s : waiting_) due(*s);
    for (auto &s : active_) due(*s);
}

void Scheduler::step() {
    uint32_t n = 0;
    int32_t rows = 0;
    for (auto &sp : active_) {
        Sequence &s = *sp;
        s.out_row = -1;
        s.chunk = 0;
        if (s.state != Sequence::State::decoding) continue;
        tok_[n] = s.next_token;
        pos_[n] = s.n_fed;
        seq_[n] = s.slot;
        want_[n] = 1;
        s.out_row = rows++;
        ++n;
    }
    // The prompt chunk fills what the decode tokens left, in admission order.
    uint32_t budget = std::min<uint32_t>(options_.prefill_chunk, session_.n_batch_max() - n);
    for (auto &sp : active_) {
        Sequence &s = *sp;
        if (s.state != Sequence::State::prefilling || budget == 0) continue;
        const int32_t k = std::min<int32_t>(static_cast<int32_t>(budget), s.n_prompt - s.n_fed);
        for (int32_t i = 0; i < k; ++i) {
            const int32_t p = s.n_fed + i;
            tok_[n] = s.prompt[p];
            pos_[n] = p;
            seq_[n] = s.slot;
            want_[n] = p == s.n_prompt - 1;
            if (want_[n]) s.out_row = rows++;
            ++n;
        }
        s.chunk = k;
        budget -= static_cast<uint32_t>(k);
    }
    if (n == 0) return;

    skulk_batch b{};
    b.size = sizeof b;
    b.n_tokens = n;
    b.token = tok_.data();
    b.pos = pos_.data();
    b.seq_id = seq_.data();
    b.want_output = want_.data();
    try {
        session_.forward(b, logits_.data(), static_cast<size_t>(rows) * static_cast<size_t>(n_vocab_));
    } catch (const std::exception &e) {
        log::get("runner")->error("forward of {} tokens failed: {}", n, e.what());
        for (auto &s : active_)
            if (s->out_row >= 0 || s->chunk > 0) fail(*s, 500, "engine_error", std::string("the engine failed: ") + e.what());
        return;
    }

    for (auto &sp : active_) {
        Sequence &s = *sp;
        if (s.state == Sequence::State::decoding) {
            ++s.n_fed;
        } else if (s.chunk > 0) {
            s.n_fed += s.chunk;
            if (s.n_fed == s.n_prompt) s.state = Sequence::State::decoding;
        }
        if (s.out_row >= 0) {
            const float *row = logits_.data() + static_cast<size_t>(s.out_row) * static_cast<size_t>(n_vocab_);
            on_token(s, s.sampler->sample(row));
        }
    }
}

void Scheduler::on_token(Sequence &s, int32_t token) {
    ++s.n_generated;
    s.sampler->accept(token);
    if (vocab_.is_eog(token)) return finish(s, "stop", true);
    s.piece.clear();
    s.decoder.push(token, s.piece);
    s.text.clear();
    s.stop.push(s.piece, s.text);
    if (!s.text.empty()) {
        delta_event(s.command_id, s.text, s.event);
        emit(s, s.event);
        s.last_event = clock::now();
    }
    if (s.stop.stopped()) return finish(s, "stop", false);
    if (s.max_tokens >= 0 && s.n_generated >= s.max_tokens) return finish(s, "length", true);
    // prompt + completion never exceed the context (as the admission check counts)
    if (s.n_prompt + s.n_generated >= n_ctx_) return finish(s, "length", true);
    s.next_token = token;
}

void Scheduler::finish(Sequence &s, const char *reason, bool flush) {
    if (flush) {
        s.text.clear();
        s.stop.push(s.decoder.flush(), s.text);
        if (!s.stop.stopped()) s.text += s.stop.flush();
        if (!s.text.empty()) {
            delta_event(s.command_id, s.text, s.event);
            emit(s, s.event);
        }
    }
    emit(s, done_event(s.command_id, reason, s.n_prompt, s.n_generated));
    release(s);
}

void Scheduler::fail(Sequence &s, int status, const char *code, const std::string &message) {
    emit(s, error_event(s.command_id, status, code, message));
    release(s);
}

void Scheduler::release(Sequence &s) {
    if (s.finished) return;
    s.finished = true;
    if (s.state != Sequence::State::waiting) {
        try {
            session_.seq_drop(s.slot, 0, -1);
        } catch (const std::exception &e) {
            log::get("runner")->error("seq_drop({}) failed: {}", s.slot, e.what());
        }
        free_slots_.push_back(s.slot);
    }
}

void Scheduler::reap() {
    auto done = [](const std::unique_ptr<Sequence> &s) { return s->finished; };
    active_.erase(std::remove_if(active_.begin(), active_.end(), done), active_.end());
    waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), done), waiting_.end());
}

} // namespace skulk::runner
