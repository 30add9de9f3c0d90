// Adaptive score thresholds: the twin of sdk/tracking/score_window.py::ScoreWindow.
//
// With det_quantile set, a frame's high / low thresholds are the det_quantile / low_score_quantile
// order statistics of the latest score_window detection scores, that frame's included: element
// static_cast<int64_t>(q * (n - 1)) of the n scores in ascending order (Python's int() of the same
// double product; no interpolation, so both cores find the same value). Scores enter a ring buffer in
// detection order; a frame with more than score_window scores writes its last score_window. Without
// det_quantile (or before any score was seen) the fixed det_thresh / low_score_thresh apply.
//
// The window is also kept sorted, so a threshold is one read: a frame replaces at most k of its w
// scores, and the sorted window after it is the old one less the k overwritten scores, merged with
// the k new ones: O(w + k log k) in two linear passes with predictable branches (~7 µs at w = 2048,
// k = 42; std::nth_element on the w scores took ~21 µs, for its mispredicted comparisons).
//
// Crowds (crowd_drop > 0, fixed mode only): both thresholds drop by crowd_drop * r, r the clipped
// linear ramp from crowd_low to crowd_high of the mean count of detections scoring >= det_thresh over
// the last crowd_frames frames, this one included. The counts are integers with an exact running
// sum, so sum / frames and the ramp are the same doubles as in score_window.py.
//
// A frame reads its thresholds first (thresholds(): the next sorted window, built aside) and writes
// its scores only once it can no longer fail (push()), so a failed frame leaves the window as it was.
// Neither allocates: every buffer is allocated once, at construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "options.hpp"

namespace mottrack {

struct ScoreThresholds {
  double hi;  // high-score detections: score >= hi
  double lo;  // low-score rescue floor (used only when Options::use_low_score)
};

class ScoreWindow {
 public:
  /// Allocates the window's buffers (5 x score_window doubles: 40 MiB at the largest window, 2^20)
  /// when det_quantile is set, and crowd_frames counts when crowd_drop > 0.
  explicit ScoreWindow(const Options& options);

  /// Forget every score (a new stream).
  void clear() {
    pos_ = count_ = crowd_pos_ = crowd_count_ = 0;
    crowd_sum_ = 0;
  }

  /// This frame's thresholds, from the window with the frame's n scores written into it; the window
  /// itself is not changed.
  ScoreThresholds thresholds(const double* scores, std::size_t n);

  /// Write the frame's n scores into the window; the same scores as the last thresholds() call.
  void push(const double* scores, std::size_t n) noexcept;

 private:
  ScoreThresholds quantile_thresholds(const double* scores, std::size_t n);

  ScoreThresholds fixed_;
  bool adaptive_, use_low_;
  double det_quantile_, low_quantile_;
  std::vector<double> ring_;    // scores in arrival order; ring_[pos_] is the next to overwrite
  std::vector<double> sorted_;  // ring_[0 .. count_) ascending
  std::vector<double> next_;    // the sorted window after this frame (thresholds -> push)
  std::vector<double> removed_, added_;  // this frame's overwritten and new scores, ascending
  std::size_t pos_ = 0, count_ = 0;  // next write position; scores held (<= ring_.size())
  double crowd_drop_, crowd_low_, crowd_high_;
  std::vector<std::int64_t> crowd_;  // the last crowd_frames counts of confident detections (ring)
  std::size_t crowd_pos_ = 0, crowd_count_ = 0;
  std::int64_t crowd_sum_ = 0, crowd_now_ = 0;  // sum of the ring; this frame's count (thresholds -> push)
};

}  // namespace mottrack
