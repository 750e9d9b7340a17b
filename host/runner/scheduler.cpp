#include "runner/scheduler.hpp"

#include "log/logging.hpp"
#include "runner/protocol.hpp"

#include <algorithm>

namespace skulk::runner {

using clock = std::chrono::steady_clock;

Scheduler::Scheduler(engine::StepExecutor &executor, const model::Vocab &vocab, const model::ChatTemplate *chat_template,
                     model::ChatTemplateOptions template_options, IpcServer &ipc,
                     SchedulerOptions options)
    : exec_(executor), vocab_(vocab), template_(chat_template), template_options_(std::move(template_options)),
      ipc_(ipc), options_(options), n_ctx_(static_cast<int32_t>(executor.n_ctx())),
      n_vocab_(static_cast<int32_t>(executor.n_vocab())) {
    const uint32_t n_seq = executor.n_seq_max();
    const uint32_t n_batch = executor.n_batch_max();
    options_.prefill_chunk = std::max<uint32_t>(1, std::min(options_.prefill_chunk, n_batch > n_seq ? n_batch - n_seq : 1));
    for (uint32_t s = n_seq; s-- > 0;) free_slots_.push_back(s); // slot 0 first
    active_.reserve(n_seq);
    tok_.resize(n_batch);
    pos_.resize(n_batch);
    seq_.resize(n_batch);
    want_.resize(n_batch);
    steps_.resize(executor.depth());
    for (auto &st : steps_) st.reserve(n_seq);
}

void Scheduler::run() {
    auto log = log::get("runner");
    std::string broken;
    for (;;) {
        const bool idle = active_.empty() && waiting_.empty() && exec_.in_flight() == 0;
        // Idle: sleep until a command (or a keepalive is due); busy: just look.
        const auto wait = idle ? options_.keepalive_interval : std::chrono::milliseconds(0);
        if (!ipc_.take(commands_, wait)) break;
        for (Command &c : commands_) handle(c);
        reap();
        start_waiting();
        send_keepalives();
        try {
            while (exec_.in_flight() < exec_.depth() && launch()) {
            }
            // A pipeline answers later: wait briefly, then read the socket again.
            if (exec_.in_flight() > 0) collect(std::chrono::milliseconds(exec_.depth() > 1 ? 5 : 0));
        } catch (const engine::ExecutorBroken &e) {
            broken = e.what();
            log->error("the model cannot run any more: {}", broken);
            break;
        }
        reap();
    }
    // Every request still here ends with a retryable error.
    const std::string why = broken.empty() ? "the runner is shutting down; the request may be retried"
                                           : "the model instance failed (" + broken + "); the request may be retried";
    const char *code = broken.empty() ? "runner_stopping" : "instance_failed";
    for (auto &s : active_)
        if (!s->finished) fail(*s, 500, code, why);
    for (auto &s : waiting_)
        if (!s->finished) fail(*s, 500, code, why);
    for (auto &s : active_) s->in_flight = 0; // nothing comes back any more
    reap();
    if (!broken.empty() && options_.on_broken) options_.on_broken(broken);
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
        ipc_.send(c.client, error_event(c.command_id, status, code, message));
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
    s->logprobs = r.logprobs;
    s->top_logprobs = r.top_logprobs;
    if (s->logprobs) s->logprobs_pending.reserve(static_cast<size_t>(256 + 160 * s->top_logprobs));
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
        exec_.drop(s->slot);
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

bool Scheduler::launch() {
    // On a pipeline, the decoding sequences spread over depth() micro-batches.
    uint32_t n_decoding = 0;
    for (auto &sp : active_) n_decoding += sp->state == Sequence::State::decoding && !sp->finished;
    const uint32_t depth = exec_.depth();
    const uint32_t decode_cap = depth > 1 ? (n_decoding + depth - 1) / depth : n_decoding;
    std::vector<StepEntry> &entries = steps_[(first_step_ + exec_.in_flight()) % steps_.size()];
    entries.clear();

    uint32_t n = 0, rows = 0, decodes = 0;
    for (auto &sp : active_) {
        Sequence &s = *sp;
        if (s.in_flight || s.finished || s.state != Sequence::State::decoding || decodes == decode_cap) continue;
        tok_[n] = s.next_token;
        pos_[n] = s.n_fed;
        seq_[n] = s.slot;
        want_[n] = 1;
        entries.push_back({&s, 0, static_cast<int32_t>(rows++)});
        ++decodes;
        ++n;
    }
    // The prompt chunk fills what the decode tokens left, in admission order.
    // A long prompt may have several chunks in flight on a pipeline (every
    // rank takes steps in order, so its KV fills in order).
    uint32_t budget = std::min<uint32_t>(options_.prefill_chunk, exec_.n_batch_max() - n);
    for (auto &sp : active_) {
        Sequence &s = *sp;
        if (s.finished || s.state != Sequence::State::prefilling || s.n_sent == s.n_prompt || budget == 0) continue;
        const int32_t k = std::min<int32_t>(static_cast<int32_t>(budget), s.n_prompt - s.n_sent);
        int32_t out_row = -1;
        for (int32_t i = 0; i < k; ++i) {
            const int32_t p = s.n_sent + i;
            tok_[n] = s.prompt[p];
            pos_[n] = p;
            seq_[n] = s.slot;
            want_[n] = p == s.n_prompt - 1;
            if (want_[n]) out_row = static_cast<int32_t>(rows++);
            ++n;
        }
        entries.push_back({&s, k, out_row});
        budget -= static_cast<uint32_t>(k);
    }
    if (n == 0) return false;

    engine::StepBatch b;
    b.token = {tok_.data(), n};
    b.pos = {pos_.data(), n};
    b.seq = {seq_.data(), n};
    b.want = {want_.data(), n};
    b.n_out = rows;
    try {
        exec_.submit(b);
    } catch (const engine::EngineError &e) {
        log::get("runner")->error("forward of {} tokens failed: {}", n, e.what());
        for (const StepEntry &e2 : entries) fail(*e2.seq, 500, "engine_error", std::string("the engine failed: ") + e.what());
        entries.clear();
        return false;
    }
    for (const StepEntry &e : entries) {
        ++e.seq->in_flight;
        e.seq->n_sent += e.chunk ? e.chunk : 1;
    }
    return true;
}

void Scheduler::collect(std::chrono::milliseconds wait) {
    std::span<const float> logits;
    if (!exec_.next_result(wait, logits)) return;
    std::vector<StepEntry> &entries = steps_[first_step_];
    first_step_ = (first_step_ + 1) % steps_.size();
    for (const StepEntry &e : entries) {
        Sequence &s = *e.seq;
        --s.in_flight;
        if (s.finished) continue; // cancelled while its step was in flight
        if (e.chunk == 0) {
            ++s.n_fed;
        } else {
            s.n_fed += e.chunk;
            if (s.n_fed == s.n_prompt) s.state = Sequence::State::decoding;
        }
        if (e.out_row >= 0) {
            const float *row = logits.data() + static_cast<size_t>(e.out_row) * static_cast<size_t>(n_vocab_);
            on_token(s, s.sampler->sample(row), row);
        }
    }
    entries.clear();
}

void Scheduler::on_token(Sequence &s, int32_t token, const float *row) {
    ++s.n_generated;
    s.sampler->accept(token);
    if (vocab_.is_eog(token)) return finish(s, "stop", true);
    // Logprobs of the raw row (before bias/penalties/temperature), kept until
    // this token's text goes out (the stop matcher may hold it back).
    if (s.logprobs)
        append_logprob_entry(vocab_, row, n_vocab_, token, s.top_logprobs, s.logprob_scratch, s.logprobs_pending);
    s.piece.clear();
    s.decoder.push(token, s.piece);
    s.text.clear();
    s.stop.push(s.piece, s.text);
    if (!s.text.empty()) {
        delta_event(s.command_id, s.text, s.logprobs_pending, s.event);
        s.logprobs_pending.clear();
        emit(s, s.event);
        s.last_event = clock::now();
    }
    const bool ends = s.stop.stopped() || (s.max_tokens >= 0 && s.n_generated >= s.max_tokens) ||
                      s.n_prompt + s.n_generated >= n_ctx_;
    if (ends && !s.logprobs_pending.empty()) { // entries of held-back text go before the end
        delta_event(s.command_id, "", s.logprobs_pending, s.event);
        s.logprobs_pending.clear();
        emit(s, s.event);
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
            exec_.drop(s.slot);
        } catch (const std::exception &e) {
            log::get("runner")->error("seq_drop({}) failed: {}", s.slot, e.what());
        }
        free_slots_.push_back(s.slot);
    }
}

void Scheduler::reap() {
    // A finished sequence still in a step in flight stays until the step is back.
    auto done = [](const std::unique_ptr<Sequence> &s) { return s->finished && !s->in_flight; };
    active_.erase(std::remove_if(active_.begin(), active_.end(), done), active_.end());
    waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), done), waiting_.end());
}

} // namespace skulk::runner
