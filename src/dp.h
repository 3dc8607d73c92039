/* dp.h — privacy accounting for differentially private training: the Rényi
 * differential privacy (RDP) of the sampled Gaussian mechanism and its
 * conversion to (ε, δ).
 *
 * Owns the accountant's arithmetic only (pure code: no MPI, no files); the
 * clipping and noise live in the trainer (mpi/dptrain.c).
 *
 * One step releases sum_i clip(g_i) + N(0, σ²C²) over a batch in which each
 * example takes part with probability q.  For an integer order α >= 2 the
 * RDP of one step is (Mironov, Talwar, Zhang 2019, "Rényi Differential
 * Privacy of the Sampled Gaussian Mechanism", Sec. 3.3, integer α):
 *
 *   ε_step(α) = 1/(α−1) · log Σ_{k=0..α} C(α,k) (1−q)^(α−k) q^k exp((k²−k) / (2σ²))
 *
 * (q = 1 gives the Gaussian mechanism's α / (2σ²)).  RDP composes by
 * addition over T steps, and (Mironov 2017, Prop. 3) an (α, T·ε_step(α))-RDP
 * mechanism is (T·ε_step(α) + log(1/δ)/(α−1), δ)-DP; the reported ε is the
 * minimum of that over α = 2..256. */
#ifndef MKT_DP_H
#define MKT_DP_H

#include <stdint.h>

#define MKT_RDP_MAX_ORDER 256

/* RDP of one step at integer order alpha >= 2 (INFINITY when sigma <= 0 and
 * q > 0; 0 when q <= 0). */
double mkt_rdp_sgm_step(double q, double sigma, int alpha);
/* ε of `steps` steps at δ, minimized over α = 2..MKT_RDP_MAX_ORDER; the
 * minimizing order in *order (may be NULL).  INFINITY when sigma <= 0. */
double mkt_rdp_epsilon(double q, double sigma, int64_t steps, double delta, int *order);

#endif
