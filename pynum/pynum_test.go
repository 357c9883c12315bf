package pynum

import (
	"encoding/json"
	"math"
	"os/exec"
	"strconv"
	"testing"
)

// Float against Python itself: repr of floats, and str of numpy float32.
func TestFloatIsPythonsRepr(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -2.5, 0.1, 1e-4, 1e-5, 2.5e-5, 12345678.9, 1e15, 1e16,
		123456789012.0, 1.5e300, 5e-324, math.MaxFloat64, 1.0 / 3, 100, 1e22, math.NaN(), math.Inf(1), math.Inf(-1)}
	script := `
import sys, json, warnings, numpy as np
warnings.filterwarnings("ignore")
vals = [float(x) for x in sys.argv[1:]]
print(json.dumps([repr(v) for v in vals] + [str(np.float32(v)) for v in vals]))`
	args := []string{"-c", script}
	for _, v := range vals {
		args = append(args, strconv.FormatFloat(v, 'g', -1, 64)) // Python's float() reads NaN, +Inf too
	}
	out, err := exec.Command("/usr/bin/python3", args...).Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var want []string
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if got := Float(v, 64); got != want[i] {
			t.Errorf("Float(%v, 64) = %q, Python says %q", v, got, want[i])
		}
		f32 := float64(float32(v))
		if math.IsInf(f32, 0) && !math.IsInf(v, 0) {
			continue // out of float32's range
		}
		if got := Float(f32, 32); got != want[len(vals)+i] {
			t.Errorf("Float(float32(%v), 32) = %q, numpy says %q", v, got, want[len(vals)+i])
		}
	}
}
