// The wasm backend's optimisers on plain Float32Arrays (the torch backend runs the same update
// natively in native/torch_addon.cc).

export interface OptimizerConfig {
  kind: 'adam' | 'sgd';
  /** SGD momentum (default 0.9). */
  momentum?: number;
}

/** Adam (Keras defaults, ε = 1e-7) or SGD with momentum. */
export class Optimizer {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;
  private readonly momentum: number;
  constructor(
    private readonly kind: 'adam' | 'sgd',
    sizes: number[],
    momentum = 0.9,
  ) {
    this.momentum = momentum;
    this.m = sizes.map((s) => new Float32Array(s));
    this.v = kind === 'adam' ? sizes.map((s) => new Float32Array(s)) : [];
  }
  apply(weights: Float32Array[], grads: Float32Array[], lr: number): void {
    this.t++;
    if (this.kind === 'sgd') {
      weights.forEach((w, k) => {
        const g = grads[k]!;
        const vel = this.m[k]!;
        for (let i = 0; i < w.length; i++) {
          vel[i] = this.momentum * vel[i]! - lr * g[i]!;
          w[i]! += vel[i]!;
        }
      });
      return;
    }
    const b1 = 0.9;
    const b2 = 0.999;
    const eps = 1e-7;
    const lrT = (lr * Math.sqrt(1 - b2 ** this.t)) / (1 - b1 ** this.t);
    weights.forEach((w, k) => {
      const g = grads[k]!;
      const m = this.m[k]!;
      const v = this.v[k]!;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i]!;
        m[i] = b1 * m[i]! + (1 - b1) * gi;
        v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
        w[i]! -= (lrT * m[i]!) / (Math.sqrt(v[i]!) + eps);
      }
    });
  }
}
