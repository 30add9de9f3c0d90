// See score_window.hpp.
#include "score_window.hpp"

#include <algorithm>
#include <cstdint>

namespace mottrack {
namespace {

// int(q * (n - 1)) in Python: the double product, truncated toward zero (q in [0, 1]: in [0, n - 1]).
std::size_t rank(double q, std::size_t n) {
  return static_cast<std::size_t>(static_cast<std::int64_t>(q * static_cast<double>(n - 1)));
}

}  // namespace

ScoreWindow::ScoreWindow(const Options& o)
    : fixed_{o.det_thresh, o.low_score_thresh},
      adaptive_(o.use_det_quantile),
      use_low_(o.use_low_score),
      det_quantile_(o.det_quantile),
      low_quantile_(o.low_score_quantile),
      crowd_drop_(o.crowd_drop),
      crowd_low_(o.crowd_low),
      crowd_high_(o.crowd_high) {
  if (crowd_drop_ > 0) crowd_.resize(static_cast<std::size_t>(o.crowd_frames));
  if (!adaptive_) return;
  const std::size_t w = static_cast<std::size_t>(o.score_window);
  ring_.resize(w);
  for (std::vector<double>* v : {&sorted_, &next_, &removed_, &added_}) v->reserve(w);
}

ScoreThresholds ScoreWindow::thresholds(const double* scores, std::size_t n) {
  if (adaptive_) return quantile_thresholds(scores, n);
  if (crowd_.empty()) return fixed_;
  // score_window.py::_crowd_drop: the ring with this frame's count written, not written yet
  crowd_now_ = 0;
  for (std::size_t i = 0; i < n; ++i) crowd_now_ += scores[i] >= fixed_.hi;
  const std::size_t w = crowd_.size(), frames = std::min(crowd_count_ + 1, w);
  const std::int64_t sum = crowd_sum_ - (crowd_count_ == w ? crowd_[crowd_pos_] : 0) + crowd_now_;
  const double mean = static_cast<double>(sum) / static_cast<double>(frames);
  const double drop = crowd_drop_ * std::min(std::max((mean - crowd_low_) / (crowd_high_ - crowd_low_), 0.0), 1.0);
  return {fixed_.hi - drop, use_low_ ? fixed_.lo - drop : fixed_.lo};
}

ScoreThresholds ScoreWindow::quantile_thresholds(const double* scores, std::size_t n) {
  // score_window.py writes scores[-w:] at pos_ (first of them up to the end of the ring, the rest from 0);
  // the positions it overwrites that held a score: those from 0 and, once the ring is full, all.
  const std::size_t w = ring_.size(), k = std::min(n, w), first = std::min(k, w - pos_);
  const double* fresh = k ? scores + (n - k) : nullptr;
  added_.assign(fresh, fresh + k);  // (capacities are w: no allocation)
  std::sort(added_.begin(), added_.end());
  removed_.assign(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(k - first));
  if (count_ == w) removed_.insert(removed_.end(), &ring_[pos_], &ring_[pos_] + first);
  std::sort(removed_.begin(), removed_.end());
  // next_ = sorted_ less removed_ (a sub-multiset of it) ...
  next_.resize(count_ - removed_.size() + k);
  std::size_t kept = 0, j = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    if (j < removed_.size() && !(sorted_[i] < removed_[j])) {  // == removed_[j] (both ascending)
      ++j;
      continue;
    }
    next_[kept++] = sorted_[i];
  }
  // ... merged with added_, from the back (in place: next_ has room for both)
  for (std::size_t out = next_.size(), a = k; a > 0;) {
    if (kept > 0 && added_[a - 1] < next_[kept - 1])
      next_[--out] = next_[--kept];
    else
      next_[--out] = added_[--a];
  }
  const std::size_t count = next_.size();
  if (count == 0) return fixed_;
  const std::size_t kh = rank(det_quantile_, count);
  // np.partition(buf, (kl, kh))[min(kl, kh)]: kl <= kh since low_score_quantile <= det_quantile
  return {next_[kh], use_low_ ? next_[std::min(rank(low_quantile_, count), kh)] : fixed_.lo};
}

void ScoreWindow::push(const double* scores, std::size_t n) noexcept {
  if (!crowd_.empty()) {  // the count thresholds() took
    const std::size_t w = crowd_.size();
    if (crowd_count_ == w) crowd_sum_ -= crowd_[crowd_pos_];
    crowd_[crowd_pos_] = crowd_now_;
    crowd_sum_ += crowd_now_;
    crowd_pos_ = (crowd_pos_ + 1) % w;
    crowd_count_ = std::min(crowd_count_ + 1, w);
  }
  if (!adaptive_) return;
  const std::size_t w = ring_.size(), k = std::min(n, w), first = std::min(k, w - pos_);
  if (k > 0) {
    const double* fresh = scores + (n - k);  // scores[-w:]
    std::copy(fresh, fresh + first, ring_.begin() + static_cast<std::ptrdiff_t>(pos_));
    std::copy(fresh + first, fresh + k, ring_.begin());
  }
  pos_ = (pos_ + k) % w;
  count_ = std::min(count_ + k, w);
  sorted_.swap(next_);  // next_ holds this frame's sorted window (thresholds() with these scores)
}

}  // namespace mottrack
