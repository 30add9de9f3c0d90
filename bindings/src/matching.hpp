// Candidate pairs, pairwise IoU and cost-limited assignment over candidate pairs.
//
// Mirrors sdk/tracking/matching.py: pairs are found by a sorted sweep along x (no T x M matrix),
// costs are computed for candidate pairs only, and assignment takes conflict-free pairs directly and
// otherwise runs the JV solver on the rows/columns that have an admissible pair.
// Boxes are xyxy (4 doubles per box, pixels); indices are local to the arrays passed in.
//
// Bounded memory on hostile frames, with matching.py's constants and rules (both cores stay equal):
// a frame whose search windows hold more than kMaxWindowPairs pairs keeps, per track, only the
// K = kMaxWindowPairs / T detections nearest along x (nearest_block); a conflict spanning more than
// kMaxSolverSide rows + columns is assigned greedily (lowest cost first, ties by row then column).
// Bounded time comes first: Options::max_detections keeps a frame's highest scores (highest_scores).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "lap_solver.hpp"

namespace mottrack {

constexpr std::size_t kMaxWindowPairs = std::size_t{1} << 20;  // matching.MAX_WINDOW_PAIRS
constexpr int kMaxSolverSide = 4096;                           // matching.MAX_SOLVER_SIDE

/// Indices, ascending, of the k highest of the n finite scores (equal scores: the earlier rows first),
/// as matching.highest_scores (the k-th largest value by nth_element, then one pass); n > k >= 1.
void highest_scores(const double* scores, std::int64_t n, std::int64_t k, std::vector<double>& scratch,
                    std::vector<std::int64_t>& out);

/// Candidate pairs (track t, detection d) as parallel index arrays.
struct PairList {
  std::vector<int> ti;
  std::vector<int> dj;
  void clear() {
    ti.clear();
    dj.clear();
  }
  std::size_t size() const { return ti.size(); }
};

/// A strict weak order on doubles even with NaN (NaN sorts last), so sorting never misbehaves.
inline bool less_total(double a, double b) { return a < b || (!(a != a) && b != b); }

/// Ascending, NaN-free x centres with a bucket index over their range, so that the searchsorted
/// bounds of a window cost O(1) on average instead of a mispredicted binary search per track.
class SortedCentres {
 public:
  /// Sort values (stable: ties keep index order); NaN values are dropped (they match no window).
  void build(const std::vector<double>& values);
  /// searchsorted(side="left"): the first q with value(q) >= v.
  std::size_t left(double v) const {
    // Every value of an earlier bucket is < v and every value of a later one > v, so the answer lies
    // in [start of v's bucket, start of the next]: a short scan when the values are spread (~1 per
    // bucket), a binary search when many pile up in one bucket (e.g. thousands of equal centres).
    const std::size_t b = bucket(v);
    std::size_t q = start_[b];
    const std::size_t end = b < sorted_.size() ? start_[b + 1] : sorted_.size();
    if (end - q > kScan) return search(v, false, q, end);
    while (q < end && sorted_[q] < v) ++q;
    return q;
  }
  /// searchsorted(side="right"): the first q with value(q) > v.
  std::size_t right(double v) const {
    const std::size_t b = bucket(v);
    std::size_t q = start_[b];
    const std::size_t end = b < sorted_.size() ? start_[b + 1] : sorted_.size();
    if (end - q > kScan) return search(v, true, q, end);
    while (q < end && sorted_[q] <= v) ++q;
    return q;
  }
  /// Capacity for n values: build() of up to n values then never allocates.
  void reserve(std::size_t n);
  std::size_t size() const { return sorted_.size(); }
  double value(std::size_t q) const { return sorted_[q]; }
  int index(std::size_t q) const { return order_[q]; }  // position in the `values` given to build()

 private:
  static constexpr std::size_t kScan = 16;  // longest bucket scanned linearly
  std::size_t search(double v, bool strict, std::size_t lo, std::size_t hi) const;  // binary, in [lo, hi)
  std::size_t bucket(double v) const {  // monotone in v: bucket(a) < bucket(b) implies a < b
    const double b = (v - lo_) * scale_;
    if (!(b > 0.0)) return 0;  // below the range (or NaN)
    const std::size_t m = sorted_.size();
    return b >= static_cast<double>(m) ? m : static_cast<std::size_t>(b);
  }
  std::vector<std::pair<double, int>> keyed_;
  std::vector<double> sorted_;
  std::vector<int> order_;
  std::vector<std::size_t> start_;  // first sorted position of each bucket (+ one past the end)
  double lo_ = 0.0, scale_ = 0.0;
};

/// IoU of two xyxy boxes, as iou_pairs (union floored at 1e-12).
double box_iou(const double* a, const double* b);

/// Work buffers of the sweeps (kept by the caller so that a warm tracker does not allocate).
struct SweepScratch {
  SortedCentres centres;
  std::vector<double> det_cx;
};

/// matching.nearest_blocks for one window sorted[lo, lo + count) with count > k: the first start s
/// with x - value(s) <= value(s + k) - x (binary search), i.e. the k consecutive values nearest to x.
std::size_t nearest_block(const SortedCentres& sorted, double x, std::size_t lo, std::size_t count, std::size_t k);

/// Strict interval overlap of two xyxy boxes (the test of overlap_pairs).
inline bool boxes_overlap(const double* a, const double* b) {
  return b[1] < a[3] && b[3] > a[1] && b[0] < a[2] && b[2] > a[0];
}

/// fn(t, d) for every pair of boxes that may overlap (IoU > 0): a sweep on centres (half widths
/// bounded with the widest det), then strict interval overlap; ordered by t, then by det centre.
/// Nothing is stored, so memory does not grow with the pairs. tracks (T, 4), dets (M, 4) xyxy.
template <typename Fn>
void for_each_overlap(const std::vector<double>& tracks, const std::vector<double>& dets, SweepScratch& scratch,
                      Fn&& fn) {
  const std::size_t nt = tracks.size() / 4, nd = dets.size() / 4;
  if (nt == 0 || nd == 0) return;
  std::vector<double>& d_cx = scratch.det_cx;
  double max_dw = -INFINITY;
  d_cx.resize(nd);
  for (std::size_t d = 0; d < nd; ++d) {
    const double* b = &dets[4 * d];
    d_cx[d] = 0.5 * (b[0] + b[2]);
    max_dw = std::max(max_dw, b[2] - b[0]);
  }
  SortedCentres& sc = scratch.centres;
  sc.build(d_cx);
  for (std::size_t t = 0; t < nt; ++t) {
    const double* a = &tracks[4 * t];
    const double cx = 0.5 * (a[0] + a[2]), hw = 0.5 * (a[2] - a[0] + max_dw);
    const std::size_t hi = sc.right(cx + hw);  // searchsorted(side="right") of cx + hw
    for (std::size_t q = sc.left(cx - hw); q < hi; ++q) {
      const int d = sc.index(q);
      if (boxes_overlap(a, &dets[4 * d])) fn(static_cast<int>(t), d);
    }
  }
}

/// Pairs of boxes that may overlap (IoU > 0), collected from for_each_overlap.
void overlap_pairs(const std::vector<double>& tracks, const std::vector<double>& dets, SweepScratch& scratch,
                   PairList& out);

/// Minimum-cost one-to-one matching over candidate pairs (matching.assign_pairs /
/// assign_admissible): pairs with cost > limit (or a non-finite cost) never match. Pairs alone on
/// their row and column are taken directly and the other pairs go to one JV solve with the cost limit
/// on the dense matrix of their rows and columns (ascending; other entries forbidden), except where
/// exact ties could make the split change the solver's answer (a cost equal to the limit, or equal
/// costs among the conflicting pairs): then all pairs go to one solve. A solve over more than
/// max_side rows + columns is greedy instead (matching.greedy_assign). Writes the matched local
/// (track, det) pairs to `matched` (cleared first).
class PairAssigner {
 public:
  void assign(const PairList& pairs, const std::vector<double>& cost, double limit, int n_tracks, int n_dets,
              PairList& matched);

  int max_side = kMaxSolverSide;

 private:
  void solve(const std::vector<int>& which, double limit, int n_tracks, int n_dets, PairList& matched);
  void greedy(const std::vector<int>& which, int n_tracks, int n_dets, PairList& matched);

  LapSolver solver_;
  PairList ok_;
  std::vector<double> ok_cost_, tie_costs_;
  std::vector<int> all_, conflict_, row_rank_, col_rank_, rows_, cols_, row_to_col_, col_to_row_, order_;
  std::vector<std::uint8_t> row_used_, col_used_;
  std::vector<double> dense_;
};

}  // namespace mottrack
