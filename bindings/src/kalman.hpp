// Constant-velocity Kalman filter on (cx, cy, a, h) over packed per-track rows.
//
// The model is sdk/tracking/kalman.py's (filterpy's KalmanFilter with F = [[I, I], [0, I]], dt = 1,
// H = [I, 0]; JDE noise: standard deviations proportional to the box height). F, Q, H, R and the
// initial covariance couple a coordinate only with its own velocity, so every covariance is zero
// outside the four 2x2 blocks {(i, i), (i, i+4), (i+4, i+4)} and S = H P Hᵀ + R is diagonal. A
// track is therefore one row of kPackedWidth doubles:
//   [cx, cy, a, h, vcx, vcy, va, vh | P_ii (4) | P_i,i+4 (4) | P_i+4,i+4 (4)]
// and predict / update are filterpy's equations in closed form per block. initiate, predict and the
// innovation use the same floating-point operations, in the same order, as KalmanBoxFilter.*_packed
// (bit-identical; build without FMA contraction). update is filterpy's Joseph form
// (I − KH) P (I − KH)ᵀ + K R Kᵀ per block; it equals the optimal-gain form (I − KH) P in exact
// arithmetic and differs from it by rounding only (~1e-13 relative on boxes).
#pragma once

#include <cstddef>

namespace mottrack {

constexpr int kPackedWidth = 20;
constexpr int kPP = 8;   // P_ii
constexpr int kPV = 12;  // P_i,i+4
constexpr int kVV = 16;  // P_i+4,i+4

/// (4,) xyxy -> (4,) [cx, cy, w/h, h].
void xyxy_to_xyah(const double* xyxy, double* xyah);
/// (>=4,) [cx, cy, a, h, ...] -> (4,) xyxy.
void xyah_to_xyxy(const double* xyah, double* xyxy);

class KalmanBoxFilter {
 public:
  KalmanBoxFilter(double std_weight_position, double std_weight_velocity);

  /// New track row from a measurement xyah (4,): zero velocity, diagonal initial covariance.
  void initiate(const double* xyah, double* row) const;

  /// x = F x;  P = F P Fᵀ + Q(h), in place on `count` contiguous rows (Q from h before the step).
  void predict(double* rows, std::size_t count) const;
  /// The same, reading `src` and writing `dst` (count rows each; they may be the same rows).
  void predict(const double* src, double* dst, std::size_t count) const;

  /// Diagonal of S = H P Hᵀ + R (4,) of one row; the projected mean is row[0:4].
  void innovation(const double* row, double* s) const;

  /// filterpy's update (Joseph form) of one row with measurement z (4,).
  void update(double* row, const double* z) const;

 private:
  double q_w_[12], q_c_[12];        // Q = (h·q_w)² + q_c over the packed covariance columns
  double r_w_[4], r_c_[4];          // R = (h·r_w)² + r_c
  double init_w_[12], init_c_[12];  // initial P = (h·init_w)² + init_c
};

/// Squared Mahalanobis distance Σ d_i · (1/s_i) · d_i for a diagonal S, with inv_s = 1/s.
inline double mahalanobis_sq(const double* d, const double* inv_s) {
  double acc = 0.0;
  for (int i = 0; i < 4; ++i) acc += d[i] * inv_s[i] * d[i];
  return 0.0 + acc;
}

}  // namespace mottrack
