// See camera_motion.hpp; every expression repeats cmc.warp_packed_state's, operation for operation.
#include "camera_motion.hpp"

#include <cmath>
#include <sstream>

#include "kalman.hpp"

namespace mottrack {

std::string validate_warp(const double* warp) {
  for (int k = 0; k < 6; ++k)
    if (!std::isfinite(warp[k])) return "warp: expected finite values, got NaN or infinity";
  // as cmc._check_warp: a NaN determinant (entries beyond ~1e154) is not refused there either
  if (warp[0] * warp[4] - warp[1] * warp[3] <= 0) {
    std::ostringstream s;
    s.precision(17);
    s << "warp: expected det R > 0 (a camera motion: no collapse, no mirror), got R = [[" << warp[0] << ", "
      << warp[1] << "], [" << warp[3] << ", " << warp[4] << "]]";
    return s.str();
  }
  return {};
}

void warp_packed_rows(double* rows, std::size_t count, const double* warp) {
  const double r00 = warp[0], r01 = warp[1], tx = warp[2], r10 = warp[3], r11 = warp[4], ty = warp[5];
  // np.array_equal(warp, identity): -0.0 == 0.0, so a signed-zero identity also changes nothing
  if (r00 == 1.0 && r01 == 0.0 && tx == 0.0 && r10 == 0.0 && r11 == 1.0 && ty == 0.0) return;
  const double s2 = r00 * r11 - r01 * r10;
  const double s = std::sqrt(s2);
  const double c00 = r00 * r00, c01 = r01 * r01, c10 = r10 * r10, c11 = r11 * r11;
  for (std::size_t t = 0; t < count; ++t) {
    double* f = rows + t * kPackedWidth;
    // (cx, cy) and (vcx, vcy); the velocity's shift is cmc's "+ 0.0" (it turns -0.0 into 0.0)
    const double x = f[0], y = f[1], vx = f[4], vy = f[5];
    f[0] = r00 * x + r01 * y + tx;
    f[1] = r10 * x + r11 * y + ty;
    f[4] = r00 * vx + r01 * vy + 0.0;
    f[5] = r10 * vx + r11 * vy + 0.0;
    f[3] *= s;
    f[7] *= s;
    for (const int i : {kPP, kPV, kVV}) {  // the x / y entries of each block: (R∘R) (p_x, p_y); h: s²
      const double px = f[i], py = f[i + 1];
      f[i] = c00 * px + c01 * py;
      f[i + 1] = c10 * px + c11 * py;
      f[i + 3] *= s2;
    }
  }
}

}  // namespace mottrack
