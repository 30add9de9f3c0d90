// Jonker-Volgenant linear assignment on dense matrices, with lap.lapjv's cost-limit extension.
//
// The solver follows the steps of the lapjv code shipped in the `lap` package (Tomas Kazmar's
// implementation of Jonker & Volgenant 1987: column reduction with reduction transfer, two passes of
// augmenting row reduction, then shortest augmenting paths), in the same order and with the same
// comparisons, so that equal-cost ties resolve as `lap.lapjv` resolves them. Rewritten here in C++17
// around reusable work buffers (no allocation once warm).
//
// Cost-limit semantics (`lap.lapjv(cost, extend_cost=True, cost_limit=L)`): the R x C matrix is
// embedded in an (R + C) square one whose off-block entries cost L / 2 and whose lower-right block
// is 0, so a pair (i, j) is matched only if cost <= L and Σ(cost − L) over the matches is minimal.
#pragma once

#include <cstdint>
#include <vector>

namespace mottrack {

class LapSolver {
 public:
  /// Square problem: cost (n, n) row-major. Writes x[i] = column of row i and y[j] = row of column j.
  void solve_square(int n, const double* cost, int* x, int* y);

  /// Rectangular problem as lap.lapjv(cost, extend_cost=True, cost_limit=limit) (limit may be +inf:
  /// then the matrix is zero-padded to square). row_to_col (R,) and col_to_row (C,) get -1 for
  /// unmatched rows / columns. Costs must be finite.
  void solve(int rows, int cols, const double* cost, double limit, std::vector<int>& row_to_col,
             std::vector<int>& col_to_row);

 private:
  int column_reduction(int n, const double* cost);
  int augmenting_row_reduction(int n, const double* cost, int n_free);
  void augment(int n, const double* cost, int n_free);
  int find_path(int n, const double* cost, int start_row);
  int find_min_columns(int n, int lo);
  int scan(int n, const double* cost, int& lo, int& hi);

  std::vector<double> extended_;
  std::vector<double> v_;     // column potentials
  std::vector<double> d_;     // shortest-path distances
  std::vector<int> free_rows_;
  std::vector<int> x_, y_;    // row -> column, column -> row
  std::vector<int> cols_, pred_;
  std::vector<std::uint8_t> unique_;
};

}  // namespace mottrack
