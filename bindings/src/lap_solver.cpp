// See lap_solver.hpp. Step names follow the JV paper and the `lap` package's lapjv.cpp.
#include "lap_solver.hpp"

#include <cmath>
#include <cstddef>
#include <utility>

namespace mottrack {
namespace {
constexpr double kLarge = 1000000.0;  // lapjv's LARGE: initial potential / minimum sentinel
}

void LapSolver::solve(int rows, int cols, const double* cost, double limit, std::vector<int>& row_to_col,
                      std::vector<int>& col_to_row) {
  row_to_col.assign(static_cast<std::size_t>(rows), -1);
  col_to_row.assign(static_cast<std::size_t>(cols), -1);
  if (rows == 0 || cols == 0) return;
  int n;
  if (limit < INFINITY) {
    n = rows + cols;  // [[cost, L/2], [L/2, 0]]
    extended_.assign(static_cast<std::size_t>(n) * n, limit / 2.0);
    for (int i = rows; i < n; ++i)
      for (int j = cols; j < n; ++j) extended_[static_cast<std::size_t>(i) * n + j] = 0.0;
  } else {
    n = rows > cols ? rows : cols;  // zero padding
    extended_.assign(static_cast<std::size_t>(n) * n, 0.0);
  }
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      extended_[static_cast<std::size_t>(i) * n + j] = cost[static_cast<std::size_t>(i) * cols + j];
  x_.resize(n);
  y_.resize(n);
  solve_square(n, extended_.data(), x_.data(), y_.data());
  for (int i = 0; i < rows; ++i) row_to_col[i] = x_[i] < cols ? x_[i] : -1;
  for (int j = 0; j < cols; ++j) col_to_row[j] = y_[j] < rows ? y_[j] : -1;
}

void LapSolver::solve_square(int n, const double* cost, int* x, int* y) {
  if (n <= 0) return;
  if (x != x_.data()) {  // callers of the square API: route through the member buffers
    x_.resize(n);
    y_.resize(n);
  }
  int* xs = x_.data();
  int* ys = y_.data();
  v_.resize(n);
  free_rows_.resize(n);
  int n_free = column_reduction(n, cost);
  for (int pass = 0; n_free > 0 && pass < 2; ++pass) n_free = augmenting_row_reduction(n, cost, n_free);
  if (n_free > 0) augment(n, cost, n_free);
  if (x != xs)
    for (int i = 0; i < n; ++i) {
      x[i] = xs[i];
      y[i] = ys[i];
    }
}

// Column reduction and reduction transfer (JV step 1). Returns the number of free rows.
int LapSolver::column_reduction(int n, const double* cost) {
  int* x = x_.data();
  int* y = y_.data();
  double* v = v_.data();
  for (int i = 0; i < n; ++i) {
    x[i] = -1;
    v[i] = kLarge;
    y[i] = 0;
  }
  for (int i = 0; i < n; ++i) {
    const double* row = cost + static_cast<std::size_t>(i) * n;
    for (int j = 0; j < n; ++j)
      if (row[j] < v[j]) {
        v[j] = row[j];
        y[j] = i;
      }
  }
  unique_.assign(n, 1);
  for (int j = n - 1; j >= 0; --j) {  // last column wins the row, as lapjv's backward loop
    const int i = y[j];
    if (x[i] < 0) {
      x[i] = j;
    } else {
      unique_[i] = 0;
      y[j] = -1;
    }
  }
  int n_free = 0;
  for (int i = 0; i < n; ++i) {
    if (x[i] < 0) {
      free_rows_[n_free++] = i;
    } else if (unique_[i]) {  // reduction transfer
      const int j = x[i];
      const double* row = cost + static_cast<std::size_t>(i) * n;
      double min = kLarge;
      for (int j2 = 0; j2 < n; ++j2) {
        if (j2 == j) continue;
        const double c = row[j2] - v[j2];
        if (c < min) min = c;
      }
      v[j] -= min;
    }
  }
  return n_free;
}

// Augmenting row reduction (JV step 2). Returns the number of rows still free.
int LapSolver::augmenting_row_reduction(int n, const double* cost, int n_free) {
  int* x = x_.data();
  int* y = y_.data();
  double* v = v_.data();
  int* free_rows = free_rows_.data();
  unsigned current = 0;
  int new_free = 0;
  unsigned rr_cnt = 0;
  const unsigned n_free_u = static_cast<unsigned>(n_free);
  while (current < n_free_u) {
    ++rr_cnt;
    const int free_i = free_rows[current++];
    const double* row = cost + static_cast<std::size_t>(free_i) * n;
    int j1 = 0, j2 = -1;
    double v1 = row[0] - v[0];
    double v2 = kLarge;
    for (int j = 1; j < n; ++j) {  // lowest and second-lowest reduced cost
      const double c = row[j] - v[j];
      if (c < v2) {
        if (c >= v1) {
          v2 = c;
          j2 = j;
        } else {
          v2 = v1;
          v1 = c;
          j2 = j1;
          j1 = j;
        }
      }
    }
    int i0 = y[j1];
    const double v1_new = v[j1] - (v2 - v1);
    const bool v1_lowers = v1_new < v[j1];
    if (rr_cnt < current * static_cast<unsigned>(n)) {
      if (v1_lowers) {
        v[j1] = v1_new;
      } else if (i0 >= 0 && j2 >= 0) {
        j1 = j2;
        i0 = y[j2];
      }
      if (i0 >= 0) {
        if (v1_lowers) {
          free_rows[--current] = i0;
        } else {
          free_rows[new_free++] = i0;
        }
      }
    } else if (i0 >= 0) {
      free_rows[new_free++] = i0;
    }
    x[free_i] = j1;
    y[j1] = free_i;
  }
  return new_free;
}

// Move the columns with minimum d to cols[lo, hi) (the SCAN list); returns hi.
int LapSolver::find_min_columns(int n, int lo) {
  int* cols = cols_.data();
  const double* d = d_.data();
  int hi = lo + 1;
  double mind = d[cols[lo]];
  for (int k = hi; k < n; ++k) {
    const int j = cols[k];
    if (d[j] <= mind) {
      if (d[j] < mind) {
        hi = lo;
        mind = d[j];
      }
      cols[k] = cols[hi];
      cols[hi++] = j;
    }
  }
  return hi;
}

// Scan the SCAN columns and relax the TODO columns; returns a free column reached at the minimum, or -1.
int LapSolver::scan(int n, const double* cost, int& lo_ref, int& hi_ref) {
  int* cols = cols_.data();
  int* pred = pred_.data();
  double* d = d_.data();
  const int* y = y_.data();
  const double* v = v_.data();
  int lo = lo_ref, hi = hi_ref;
  while (lo != hi) {
    int j = cols[lo++];
    const int i = y[j];
    const double mind = d[j];
    const double* row = cost + static_cast<std::size_t>(i) * n;
    const double h = row[j] - v[j] - mind;
    for (int k = hi; k < n; ++k) {
      j = cols[k];
      const double cred_ij = row[j] - v[j] - h;
      if (cred_ij < d[j]) {
        d[j] = cred_ij;
        pred[j] = i;
        if (cred_ij == mind) {
          if (y[j] < 0) return j;
          cols[k] = cols[hi];
          cols[hi++] = j;
        }
      }
    }
  }
  lo_ref = lo;
  hi_ref = hi;
  return -1;
}

// One Dijkstra-like shortest augmenting path from start_row (dense); returns the free column reached.
int LapSolver::find_path(int n, const double* cost, int start_row) {
  cols_.resize(n);
  d_.resize(n);
  int* cols = cols_.data();
  double* d = d_.data();
  const double* row = cost + static_cast<std::size_t>(start_row) * n;
  for (int i = 0; i < n; ++i) {
    cols[i] = i;
    pred_[i] = start_row;
    d[i] = row[i] - v_[i];
  }
  int lo = 0, hi = 0, n_ready = 0, final_j = -1;
  while (final_j == -1) {
    if (lo == hi) {
      n_ready = lo;
      hi = find_min_columns(n, lo);
      for (int k = lo; k < hi; ++k)
        if (y_[cols[k]] < 0) final_j = cols[k];
    }
    if (final_j == -1) final_j = scan(n, cost, lo, hi);
  }
  const double mind = d[cols[lo]];
  for (int k = 0; k < n_ready; ++k) v_[cols[k]] += d[cols[k]] - mind;  // update ready columns
  return final_j;
}

// Augmentation (JV step 3) for every row left free.
void LapSolver::augment(int n, const double* cost, int n_free) {
  pred_.resize(n);
  for (int f = 0; f < n_free; ++f) {
    const int free_i = free_rows_[f];
    int j = find_path(n, cost, free_i);
    int i = -1;
    for (int k = 0; i != free_i && k <= n; ++k) {  // walk the path back, flipping assignments
      i = pred_[j];
      y_[j] = i;
      std::swap(j, x_[i]);
    }
  }
}

}  // namespace mottrack
