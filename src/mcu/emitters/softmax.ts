// TFLite Micro's int8 softmax in C (gemmlowp fixed point), shared by every softmax layer.
export const SOFTMAX_C = `
/* TFLite Micro int8 softmax (gemmlowp fixed point): Q5.26 differences, Q12.19 sum of exps. */
static int32_t tp_sat_shl(int32_t x, int e) {
  int32_t thr = (int32_t)((1u << (31 - e)) - 1u);
  if (x > thr) return INT32_MAX;
  if (x < -thr) return INT32_MIN;
  return (int32_t)((uint32_t)x << e);
}
static int32_t tp_srdhm_full(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  int64_t v = (int64_t)a * b;
  v += v >= 0 ? (1 << 30) : 1 - (1 << 30);
  if (v < 0) v += 0x7fffffff;
  return (int32_t)(v >> 31);
}
static int32_t tp_exp_quarter(int32_t a) {
  int32_t x = (int32_t)((uint32_t)a + (1u << 28));
  int32_t x2 = tp_srdhm_full(x, x), x3 = tp_srdhm_full(x2, x), x4 = tp_srdhm_full(x2, x2);
  int32_t x4o4 = tp_rdbp(x4, 2);
  int32_t poly = tp_rdbp((int32_t)((uint32_t)tp_srdhm_full((int32_t)((uint32_t)x4o4 + (uint32_t)x3), 715827883) + (uint32_t)x2), 1);
  return (int32_t)(1895147668u + (uint32_t)tp_srdhm_full(1895147668, (int32_t)((uint32_t)x + (uint32_t)poly)));
}
static int32_t tp_exp_neg(int32_t a) {
  static const int32_t mul[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  int32_t quarter = 1 << 24;
  int32_t amq = (int32_t)((uint32_t)(a & (quarter - 1)) - (uint32_t)quarter);
  int32_t r = tp_exp_quarter(tp_sat_shl(amq, 5));
  int32_t rem = (int32_t)((uint32_t)amq - (uint32_t)a);
  for (int k = 0; k < 7; k++)
    if (rem & (1 << (24 + k))) r = tp_srdhm_full(r, mul[k]);
  return a == 0 ? INT32_MAX : r;
}
static int32_t tp_one_over_one_plus_x(int32_t a) {
  int64_t sum = (int64_t)a + INT32_MAX;
  int32_t half = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = (int32_t)(1515870810u + (uint32_t)tp_srdhm_full(half, -1010580540));
  for (int i = 0; i < 3; i++) {
    int32_t om = (int32_t)((1u << 29) - (uint32_t)tp_srdhm_full(half, x));
    x = (int32_t)((uint32_t)x + (uint32_t)tp_sat_shl(tp_srdhm_full(x, om), 2));
  }
  return tp_sat_shl(x, 1);
}
static void tp_softmax(const uint8_t *in, uint8_t *out, int rows, int depth, int32_t mult, int lshift, int32_t diff_min) {
  for (int r = 0; r < rows; r++, in += depth, out += depth) {
    int32_t mx = 0;
    for (int c = 0; c < depth; c++) if (in[c] > mx) mx = in[c];
    int32_t sum = 0;
    for (int c = 0; c < depth; c++) {
      int32_t d = (int32_t)in[c] - mx;
      if (d >= diff_min) sum = (int32_t)((uint32_t)sum + (uint32_t)tp_rdbp(tp_exp_neg(tp_srdhm_full((int32_t)((uint32_t)d << lshift), mult)), 12));
    }
    int hp1 = __builtin_clz((uint32_t)sum);
    int32_t scale = tp_one_over_one_plus_x((int32_t)(((uint32_t)sum << hp1) - 0x80000000u));
    int e = 12 - hp1 + 31 - 8;
    for (int c = 0; c < depth; c++) {
      int32_t d = (int32_t)in[c] - mx;
      int32_t v = -128;
      if (d >= diff_min) {
        v = tp_rdbp(tp_srdhm_full(scale, tp_exp_neg(tp_srdhm_full((int32_t)((uint32_t)d << lshift), mult))), e) - 128;
        v = v > 127 ? 127 : v < -128 ? -128 : v;
      }
      out[c] = (uint8_t)(v + 128);
    }
  }
}
`;
