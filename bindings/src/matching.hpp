// Candidate pairs, pairwise IoU and cost-limited assignment over candidate pairs.
//
// Mirrors sdk/tracking/matching.py: pairs are found by a sorted sweep along x (no T x M matrix),
// costs are computed for candidate pairs only, and assignment takes conflict-free pairs directly and
// otherwise runs the JV solver on the rows/columns that have an admissible pair.
// Boxes are xyxy (4 doubles per box, pixels); indices are local to the arrays passed in.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "lap_solver.hpp"

namespace mottrack {

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
  std::size_t left(double v) const;
  /// searchsorted(side="right"): the first q with value(q) > v.
  std::size_t right(double v) const;
  std::size_t size() const { return sorted_.size(); }
  double value(std::size_t q) const { return sorted_[q]; }
  int index(std::size_t q) const { return order_[q]; }  // position in the `values` given to build()

 private:
  std::size_t bucket(double v) const;  // monotone in v: bucket(a) < bucket(b) implies a < b
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
  std::vector<double> track_cx, half_width, det_cx;
  PairList candidates;
};

/// Sorted sweep: every (t, d) with track_cx[t] - half_width[t] <= det_cx[d] <= track_cx[t] + half_width[t].
/// Pairs come ordered by track, then by det_cx (stable sort).
void sweep_pairs(const std::vector<double>& track_cx, const std::vector<double>& half_width,
                 const std::vector<double>& det_cx, SweepScratch& scratch, PairList& out);

/// Pairs of boxes that may overlap (IoU > 0): sweep on centres, then strict interval overlap.
/// tracks (T, 4) and dets (M, 4) are gathered xyxy boxes.
void overlap_pairs(const std::vector<double>& tracks, const std::vector<double>& dets, SweepScratch& scratch,
                   PairList& out);

/// Minimum-cost one-to-one matching over candidate pairs (matching.assign_pairs /
/// assign_admissible): pairs with cost > limit (or a non-finite cost) never match. Pairs alone on
/// their row and column are taken directly and the other pairs go to one JV solve with the cost limit
/// on the dense matrix of their rows and columns (ascending; other entries forbidden), except where
/// exact ties could make the split change the solver's answer (a cost equal to the limit, or equal
/// costs among the conflicting pairs): then all pairs go to one solve. Writes the matched local
/// (track, det) pairs to `matched` (cleared first).
class PairAssigner {
 public:
  void assign(const PairList& pairs, const std::vector<double>& cost, double limit, int n_tracks, int n_dets,
              PairList& matched);

 private:
  void solve(const std::vector<int>& which, double limit, int n_tracks, int n_dets, PairList& matched);

  LapSolver solver_;
  PairList ok_;
  std::vector<double> ok_cost_, tie_costs_;
  std::vector<int> all_, conflict_, row_rank_, col_rank_, rows_, cols_, row_to_col_, col_to_row_;
  std::vector<double> dense_;
};

}  // namespace mottrack
