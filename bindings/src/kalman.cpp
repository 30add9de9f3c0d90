// See kalman.hpp. Each step names the filterpy equation it implements.
#include "kalman.hpp"

#include <algorithm>

namespace mottrack {

void xyxy_to_xyah(const double* b, double* out) {
  const double w = b[2] - b[0];
  const double h = b[3] - b[1];
  out[0] = b[0] + 0.5 * w;
  out[1] = b[1] + 0.5 * h;
  out[2] = w / h;
  out[3] = h;
}

void xyah_to_xyxy(const double* m, double* out) {
  const double h = m[3];
  const double w = m[2] * h;
  const double x1 = m[0] - 0.5 * w;
  const double y1 = m[1] - 0.5 * h;
  out[0] = x1;
  out[1] = y1;
  out[2] = x1 + w;
  out[3] = y1 + h;
}

KalmanBoxFilter::KalmanBoxFilter(double wp, double wv) {
  // Height-independent aspect terms (1e-2)², (1e-5)², (1e-1)² are added to an exact (h·0)² = 0.
  const double q_w[12] = {wp, wp, 0, wp, 0, 0, 0, 0, wv, wv, 0, wv};
  const double q_c[12] = {0, 0, 1e-2 * 1e-2, 0, 0, 0, 0, 0, 0, 0, 1e-5 * 1e-5, 0};
  const double p0 = 2 * wp, v0 = 10 * wv;
  const double init_w[12] = {p0, p0, 0, p0, 0, 0, 0, 0, v0, v0, 0, v0};
  for (int k = 0; k < 12; ++k) {
    q_w_[k] = q_w[k];
    q_c_[k] = q_c[k];
    init_w_[k] = init_w[k];
    init_c_[k] = q_c[k];
  }
  const double r_w[4] = {wp, wp, 0, wp};
  const double r_c[4] = {0, 0, 1e-1 * 1e-1, 0};
  for (int k = 0; k < 4; ++k) {
    r_w_[k] = r_w[k];
    r_c_[k] = r_c[k];
  }
}

void KalmanBoxFilter::initiate(const double* xyah, double* row) const {
  for (int i = 0; i < 4; ++i) {
    row[i] = xyah[i];
    row[i + 4] = 0.0;
  }
  const double h = xyah[3];
  for (int k = 0; k < 12; ++k) {
    double c = h * init_w_[k];
    c *= c;
    row[kPP + k] = c + init_c_[k];
  }
}

void KalmanBoxFilter::predict(double* rows, std::size_t count) const { predict(rows, rows, count); }

void KalmanBoxFilter::predict(const double* src, double* dst, std::size_t count) const {
  for (std::size_t t = 0; t < count; ++t) {
    const double* x = src + t * kPackedWidth;
    double* y = dst + t * kPackedWidth;  // may be x: every element is read before it is written
    double q[12];  // Q(h) from the height before the step
    for (int k = 0; k < 12; ++k) {
      q[k] = x[3] * q_w_[k];
      q[k] *= q[k];
      q[k] += q_c_[k];
    }
    for (int i = 0; i < 4; ++i) {
      const double v = x[i + 4];
      y[i] = x[i] + v;  // x = F x
      y[i + 4] = v;
    }
    // P = F P Fᵀ per block [[a, b], [b, d]] -> [[(a + b) + (b + d), b + d], [b + d, d]], then + Q
    for (int i = 0; i < 4; ++i) {
      const double a = x[kPP + i], b = x[kPV + i], d = x[kVV + i];
      const double bd = b + d;
      y[kPP + i] = ((a + b) + bd) + q[i];
      y[kPV + i] = bd + q[4 + i];
      y[kVV + i] = d + q[8 + i];
    }
  }
}

void KalmanBoxFilter::innovation(const double* row, double* s) const {
  for (int i = 0; i < 4; ++i) {
    double r = row[3] * r_w_[i];  // R(h)
    r *= r;
    r += r_c_[i];
    s[i] = r + row[kPP + i];  // S = H P Hᵀ + R (diagonal)
  }
}

void KalmanBoxFilter::update(double* x, const double* z) const {
  for (int i = 0; i < 4; ++i) {
    double r = x[3] * r_w_[i];  // R from the prior height
    r *= r;
    r += r_c_[i];
    const double a = x[kPP + i], b = x[kPV + i], d = x[kVV + i];
    const double s = a + r;            // S = H P Hᵀ + R
    const double k1 = a / s;           // K = P Hᵀ S⁻¹ (position, velocity)
    const double k2 = b / s;
    const double y = z[i] - x[i];      // innovation y = z − H x
    const double ky1 = k1 * y, ky2 = k2 * y;
    x[i] += ky1;                       // x = x + K y
    x[i + 4] += ky2;
    // Joseph form (I − KH) P (I − KH)ᵀ + K R Kᵀ per block, with u = 1 − k1, c = b − k2·a.
    const double k1r = k1 * r, k2r = k2 * r;
    const double u = 1.0 - k1;
    const double c = b - k2 * a;
    const double e = d - k2 * b;
    const double krk1 = k1r * k1, krk2 = k1r * k2;
    double vv = e - k2 * c;
    vv += k2r * k2;
    x[kPP + i] = (u * a) * u + krk1;
    x[kPV + i] = u * c + krk2;
    x[kVV + i] = vv;
  }
}

}  // namespace mottrack
