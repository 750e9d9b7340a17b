// A pipeline rank other than 0: connects to rank 0's hub, says hello with
// its layer range, then for every step applies the KV drops it carries, runs
// its layers on the hidden states and sends back hidden states (a middle
// rank) or the logits of the rows that want them (the last rank). It keeps
// no request state: rank 0's scheduler owns tokenizer, sampler and requests.
#pragma once

#include "common/curve.hpp"
#include "engine/compute_session.hpp"
#include "pipeline/frame.hpp"
#include "pipeline/peer_watch.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace skulk::pipeline {

class Stage {
public:
    // keys: CURVE (a cluster secret), as rank 0's hub expects.
    Stage(zmq::context_t &ctx, engine::ComputeSession &session, uint32_t rank, uint32_t world_size,
          const std::string &hub_endpoint, const std::optional<cluster::CurveKeys> &keys);
    // Sends hello (once loaded and warmed up).
    void join();
    // Serves steps until `stop` turns true (returns "") or the pipeline
    // breaks: rank 0 disconnected or never answered, a step the engine
    // refused, a message that breaks the format (returns the reason).
    std::string serve(const std::atomic<bool> &stop);

private:
    std::string run_step(const Message &m);

    engine::ComputeSession &session_;
    const uint32_t rank_, world_size_;
    zmq::socket_t dealer_;
    std::unique_ptr<PeerWatch> watch_;
    std::string hub_;
    std::vector<float> out_;
};

} // namespace skulk::pipeline
