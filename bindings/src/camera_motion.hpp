// Camera-motion compensation of the packed Kalman rows: the twin of
// sdk/tracking/cmc.py::warp_packed_state (the estimation of the warp stays in Python / the host).
//
// A warp is a (2, 3) row-major float64 similarity [R | t] mapping a pixel of the previous frame to
// the same scene point in the current one (p_cur = R p_prev + t), s = sqrt(det R). Per track row
// [cx, cy, a, h, vcx, vcy, va, vh | P_ii | P_i,i+4 | P_i+4,i+4]: (cx, cy) <- R (cx, cy) + t,
// (vcx, vcy) <- R (vcx, vcy), h and vh scale by s; in each covariance block the x / y entries become
// (R∘R)(p_x, p_y) and the h entry scales by s², the aspect entries stay. The same floating-point
// operations in the same order as cmc.py, so both cores' states stay bit-identical; the exact
// identity changes nothing.
#pragma once

#include <cstddef>
#include <string>

namespace mottrack {

/// Empty when `warp` (6 doubles, row-major [R | t]) is what cmc._check_warp accepts (every entry
/// finite, det R > 0), otherwise a message naming `warp`.
std::string validate_warp(const double* warp);

/// warp_packed_state on `count` contiguous packed Kalman rows, in place (warp already validated).
void warp_packed_rows(double* rows, std::size_t count, const double* warp);

}  // namespace mottrack
