package obscsv

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// pytoolCheck runs the Python tool 0.3.0's own CSV merge on each case's
// file (one interpreter for all) and prints str() of its categories and
// its codes: the oracle for TestColumnMatchesThePythonTool's table.
const pytoolCheck = `
import json, sys, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from annslicer._common import _merge_csv_into_obs
out = []
for path in sys.argv[1:]:
    obs = pd.DataFrame(index=["c1", "c2", "c3"])
    c = _merge_csv_into_obs(obs, path, "C")["C"]
    out.append({"cats": [str(x) for x in c.cat.categories], "codes": [int(x) for x in c.cat.codes]})
print(json.dumps(out))
`

func TestColumnTableIsWhatThePythonToolGives(t *testing.T) {
	py := filepath.Join("..", ".venv-pytool", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("the Python tool's venv (annslicer 0.3.0) is missing: %v", err)
	}
	args := []string{"-c", pytoolCheck}
	for _, tc := range columnCases {
		args = append(args, writeCSV(t, tc.text))
	}
	out, err := exec.Command(py, args...).Output()
	if err != nil {
		t.Fatalf("the Python tool: %v", err)
	}
	var got []struct {
		Cats  []string
		Codes []int32
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for i, tc := range columnCases {
		if fmt.Sprintf("%q %v", got[i].Cats, got[i].Codes) != fmt.Sprintf("%q %v", tc.cats, tc.codes) {
			t.Errorf("%s: the Python tool gives %q %v, the table says %q %v", tc.name, got[i].Cats, got[i].Codes, tc.cats, tc.codes)
		}
	}
}
