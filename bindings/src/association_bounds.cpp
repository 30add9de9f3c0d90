// AssociationCore's bounds on hostile frames and its failure safety (see association.hpp): the
// search-window cap (core._associate / matching.sweep_pairs(max_pairs) in Python), the memory
// reserved before the applying phase, and the limits tests lower.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "association.hpp"

namespace mottrack {

void AssociationCore::set_limits(std::size_t max_window_pairs, int max_solver_side) {
  if (max_window_pairs < 1 || max_solver_side < 2)
    throw std::invalid_argument("limits: expected max_window_pairs >= 1 and max_solver_side >= 2");
  max_window_pairs_ = max_window_pairs;
  assigner_.max_side = max_solver_side;
}

// Capacity for everything the applying phase may append (at most T + n tracks), so that it cannot
// throw half-way. Buffers only grow (and pairs that are swapped are both reserved), so once they
// hold the stream's largest frame this is one comparison.
void AssociationCore::reserve_apply(const Frame& f) {
  const std::size_t cap = table_.size() + static_cast<std::size_t>(f.n);
  const std::int64_t dim = table_.has_templates ? table_.dim : (f.embeddings != nullptr ? f.dim : 0);
  if (cap <= reserved_rows_ && dim <= reserved_dim_) return;
  const std::size_t rows = std::max(cap, reserved_rows_);
  const std::int64_t d = std::max(dim, reserved_dim_);
  table_.reserve(rows, d);
  pred_.reserve(rows * kPackedWidth);  // swapped with table_.kf every frame
  for (std::vector<int>* v : {&rows_, &tentative_, &dets_}) v->reserve(rows);
  mask_.reserve(rows);
  for (std::vector<double>* v : {&track_xyxy_, &gather_a_, &gather_b_}) v->reserve(4 * rows);
  sweep_.det_cx.reserve(rows);
  sweep_.centres.reserve(rows);
  ema_.reserve(static_cast<std::size_t>(d));
  output_.reserve(rows);  // swapped with next_output_ every frame
  next_output_.reserve(rows);
  reserved_rows_ = rows;  // only once every reservation succeeded
  reserved_dim_ = d;
}

// core._associate's single search window per frame (every track, every detection; the larger of the
// chi^2 bound and the overlap bound), cut as matching.sweep_pairs(max_pairs) cuts it: when the
// windows hold more than max_window_pairs_ pairs, a track whose window holds more than
// K = max_window_pairs_ / T detections keeps the K nearest along x. The stages then pair such a
// track only with detections of its block.
void AssociationCore::cap_windows(const Frame& f) {
  capped_ = false;
  const std::size_t T = table_.size(), n = static_cast<std::size_t>(f.n);
  if (T == 0 || n == 0 || T * n <= max_window_pairs_) return;  // the windows cannot hold more
  const Options& o = options_;
  double max_w = -INFINITY;
  all_cx_.resize(n);
  for (std::size_t d = 0; d < n; ++d) {
    max_w = std::max(max_w, f.xyxy[4 * d + 2] - f.xyxy[4 * d]);
    all_cx_[d] = det_xyah_[4 * d];
  }
  all_centres_.build(all_cx_);
  window_lo_.resize(T);
  window_count_.resize(T);
  std::size_t total = 0;
  for (std::size_t r = 0; r < T; ++r) {
    const double* z = table_.kf_row(r);
    double rx = INFINITY;
    if (o.gating) {
      double s[4];
      kf_.innovation(z, s);
      const double* box = &track_xyxy_[4 * r];
      rx = std::max(std::sqrt(s[0] * o.gating_threshold), (box[2] - box[0] + max_w) * 0.5) * (1.0 + 1e-9);
    }
    window_lo_[r] = all_centres_.left(z[0] - rx);
    window_count_[r] = all_centres_.right(z[0] + rx) - window_lo_[r];
    total += window_count_[r];
  }
  if (total <= max_window_pairs_) return;
  block_len_ = std::max<std::size_t>(1, max_window_pairs_ / T);
  capped_row_.assign(T, 0);
  block_start_.resize(T);
  for (std::size_t r = 0; r < T; ++r) {
    if (window_count_[r] <= block_len_) continue;
    capped_row_[r] = 1;
    block_start_[r] = nearest_block(all_centres_, table_.kf_row(r)[0], window_lo_[r], window_count_[r], block_len_);
  }
  capped_ = true;
}

// det_pos_[d] = position of detection d in `dets`, or -1.
void AssociationCore::map_positions(const Frame& f, const std::vector<int>& dets) {
  det_pos_.assign(static_cast<std::size_t>(f.n), -1);
  for (std::size_t m = 0; m < dets.size(); ++m) det_pos_[dets[m]] = static_cast<int>(m);
}

}  // namespace mottrack
