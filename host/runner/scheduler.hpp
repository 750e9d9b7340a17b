// Rank 0's continuous-batching scheduler. Each step builds ONE batch from
// every decoding sequence (one token each) plus at most `prefill_chunk`
// prompt tokens of sequences still prefilling, runs one engine forward, and
// samples for every sequence whose logits came back. Requests beyond the
// KV slots (n_seq_max) wait in FIFO order. Events go out through the
// EventOutlet as they are produced.
#pragma once

#include "engine/compute_session.hpp"
#include "model/chat_template.hpp"
#include "model/vocab.hpp"
#include "runner/ipc_server.hpp"
#include "runner/request_queue.hpp"
#include "runner/sequence.hpp"

#include <chrono>
#include <deque>
#include <memory>
#include <vector>

namespace skulk::runner {

struct SchedulerOptions {
    uint32_t prefill_chunk = 256;
    // Queued/prefilling requests hear a keepalive at least this often.
    std::chrono::milliseconds keepalive_interval{2000};
};

class Scheduler {
public:
    // chat_template: null when the model has none (chat requests get a 400).
    Scheduler(engine::ComputeSession &session, const model::Vocab &vocab, const model::ChatTemplate *chat_template,
              model::ChatTemplateOptions template_options, RequestQueue &inbox, EventOutlet &outlet,
              SchedulerOptions options);
    // Serves until the inbox is stopped; then ends every request with a
    // retryable error.
    void run();

private:
    void handle(Command &command);
    void admit(Command &command);
    bool tokenize(const Command &command, std::vector<int32_t> &tokens, std::string &error) const;
    void cancel(const std::string &client, const std::string *command_id);
    void start_waiting();
    void send_keepalives();
    void step();
    void on_token(Sequence &s, int32_t token);
    void finish(Sequence &s, const char *reason, bool flush);
    void fail(Sequence &s, int status, const char *code, const std::string &message);
    void release(Sequence &s);
    void reap();
    void emit(const Sequence &s, const std::string &event) { outlet_.send(s.client, event); }

    engine::ComputeSession &session_;
    const model::Vocab &vocab_;
    const model::ChatTemplate *template_;
    model::ChatTemplateOptions template_options_;
    RequestQueue &inbox_;
    EventOutlet &outlet_;
    SchedulerOptions options_;
    const int32_t n_ctx_, n_vocab_;

    std::deque<std::unique_ptr<Sequence>> waiting_;   // FIFO for a free slot
    std::vector<std::unique_ptr<Sequence>> active_;   // admission order
    std::vector<uint32_t> free_slots_;
    std::vector<Command> commands_;

    // The batch, sized once for n_batch_max tokens / n_seq_max logits rows.
    std::vector<int32_t> tok_, pos_;
    std::vector<uint32_t> seq_;
    std::vector<uint8_t> want_;
    std::vector<float> logits_;
};

} // namespace skulk::runner
