// Rank 0's continuous-batching scheduler. Each step builds ONE batch from
// decoding sequences (one token each) plus at most `prefill_chunk` prompt
// tokens of sequences still prefilling, hands it to the StepExecutor, and
// samples for every sequence whose logits came back. On a pipeline the
// executor takes up to depth() steps at once: the decoding sequences are
// spread over that many micro-batches (each in at most one step in flight),
// and the chunks of a long prompt may be in several. Requests beyond the KV slots (n_seq_max) wait in FIFO
// order. Commands come from the IpcServer between steps, and events go out
// through it as they are produced, from this thread.
#pragma once

#include "engine/step_executor.hpp"
#include "chat_template/chat_template.hpp"
#include "tokenizer/vocab.hpp"
#include "runner/ipc_server.hpp"
#include "runner/sequence.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

namespace skulk::runner {

struct SchedulerOptions {
    uint32_t prefill_chunk = 256;
    // Queued/prefilling requests hear a keepalive at least this often.
    std::chrono::milliseconds keepalive_interval{2000};
    // Called on the scheduler thread when the executor broke (a pipeline
    // rank is gone); run() then ends every request and returns.
    std::function<void(const std::string &why)> on_broken;
};

class Scheduler {
public:
    // chat_template: null when the model has none (chat requests get a 400).
    Scheduler(engine::StepExecutor &executor, const model::Vocab &vocab, const model::ChatTemplate *chat_template,
              model::ChatTemplateOptions template_options, IpcServer &ipc,
              SchedulerOptions options);
    // Serves until the IpcServer is stopped or the executor breaks; then ends
    // every request with a retryable error.
    void run();

private:
    void handle(Command &command);
    void admit(Command &command);
    bool tokenize(const Command &command, std::vector<int32_t> &tokens, std::string &error) const;
    void cancel(const std::string &client, const std::string *command_id);
    void start_waiting();
    void send_keepalives();
    bool launch();
    void collect(std::chrono::milliseconds wait);
    void on_token(Sequence &s, int32_t token, const float *row); // row: the raw logits (logprobs)
    void finish(Sequence &s, const char *reason, bool flush);
    void fail(Sequence &s, int status, const char *code, const std::string &message);
    void release(Sequence &s);
    void reap();
    void emit(const Sequence &s, const std::string &event) { ipc_.send(s.client, event); }

    engine::StepExecutor &exec_;
    const model::Vocab &vocab_;
    const model::ChatTemplate *template_;
    model::ChatTemplateOptions template_options_;
    IpcServer &ipc_;
    SchedulerOptions options_;
    const int32_t n_ctx_, n_vocab_;

    std::deque<std::unique_ptr<Sequence>> waiting_;   // FIFO for a free slot
    std::vector<std::unique_ptr<Sequence>> active_;   // admission order
    std::vector<uint32_t> free_slots_;
    std::vector<Command> commands_;
    // What each step in flight carries per sequence, oldest step first (a
    // ring of depth() entries).
    struct StepEntry {
        Sequence *seq;
        int32_t chunk;   // prompt tokens (0: one decode token)
        int32_t out_row; // logits row, -1: none
    };
    std::vector<std::vector<StepEntry>> steps_;
    size_t first_step_ = 0;

    // The batch, sized once for n_batch_max tokens.
    std::vector<int32_t> tok_, pos_;
    std::vector<uint32_t> seq_;
    std::vector<uint8_t> want_;
};

} // namespace skulk::runner
