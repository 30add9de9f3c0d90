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
      low_quantile_(o.low_score_quantile) {
  if (!adaptive_) return;
  const std::size_t w = static_cast<std::size_t>(o.score_window);
  ring_.resize(w);
  for (std::vector<double>* v : {&sorted_, &next_, &removed_, &added_}) v->reserve(w);
}

ScoreThresholds ScoreWindow::thresholds(const double* scores, std::size_t n) {
  if (!adaptive_) return fixed_;
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
