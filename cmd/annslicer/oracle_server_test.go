package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
)

// The checkers of testdata/ run in long-lived interpreters
// (testdata/oracle_server.py), a few per Python, each answering one call
// after another: a fresh interpreter spent ~2 s importing anndata and
// zarr before every check, and read the check's source again (5 s for
// a real dataset with 10,000 arrays in uns); the checks of current
// anndata alone were ~300 interpreters, the longest part of the tests.
//
// Only a pass is taken from a server: a call that does not pass is run
// again in a fresh interpreter, whose result and output are the ones
// reported, so what one check left behind in a server can never fail
// another, and a failure reads as it always did.

type oracleServer struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

type oraclePool struct {
	py   string
	slot chan struct{} // one per server that may run at once
	mu   sync.Mutex
	idle []*oracleServer
	all  []*oracleServer
}

var (
	poolsMu sync.Mutex
	pools   = map[string]*oraclePool{}
)

func poolFor(py string) *oraclePool {
	poolsMu.Lock()
	defer poolsMu.Unlock()
	p := pools[py]
	if p == nil {
		p = &oraclePool{py: py, slot: make(chan struct{}, runtime.GOMAXPROCS(0))}
		pools[py] = p
	}
	return p
}

// stopOracleServers ends every server (TestMain, after the tests).
func stopOracleServers() {
	poolsMu.Lock()
	defer poolsMu.Unlock()
	for _, p := range pools {
		p.mu.Lock()
		for _, s := range p.all {
			s.in.Close()
			s.cmd.Wait()
		}
		p.all, p.idle = nil, nil
		p.mu.Unlock()
	}
}

func (p *oraclePool) start() (*oracleServer, error) {
	cmd := exec.Command(p.py, filepath.Join(repoRoot, "testdata", "oracle_server.py"))
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &oracleServer{cmd: cmd, in: in, out: bufio.NewReader(out)}
	p.mu.Lock()
	p.all = append(p.all, s)
	p.mu.Unlock()
	return s, nil
}

// call runs script's main(args) in a server: whether it passed, and what
// it printed. An error means the server could not answer (it is dropped).
func (p *oraclePool) call(script string, args []string) (bool, string, error) {
	p.slot <- struct{}{}
	defer func() { <-p.slot }()
	p.mu.Lock()
	var s *oracleServer
	if n := len(p.idle); n > 0 {
		s, p.idle = p.idle[n-1], p.idle[:n-1]
	}
	p.mu.Unlock()
	if s == nil {
		var err error
		if s, err = p.start(); err != nil {
			return false, "", err
		}
	}
	req, _ := json.Marshal(map[string]any{"script": script, "argv": args})
	var resp struct {
		Code   int    `json:"code"`
		Output string `json:"output"`
	}
	_, err := s.in.Write(append(req, '\n'))
	if err == nil {
		var line []byte
		if line, err = s.out.ReadBytes('\n'); err == nil {
			err = json.Unmarshal(line, &resp)
		}
	}
	if err != nil {
		s.in.Close()
		s.cmd.Process.Kill()
		s.cmd.Wait()
		p.mu.Lock()
		p.all = slices.DeleteFunc(p.all, func(x *oracleServer) bool { return x == s })
		p.mu.Unlock()
		return false, "", fmt.Errorf("oracle server %s: %v", p.py, err)
	}
	p.mu.Lock()
	p.idle = append(p.idle, s)
	p.mu.Unlock()
	return resp.Code == 0, resp.Output, nil
}

// runChecker runs testdata/script with args under py: in a server when it
// passes there, else in a fresh interpreter, whose result it gives.
func runChecker(py, script string, args []string) (bool, string) {
	path := filepath.Join(repoRoot, "testdata", script)
	if ok, out, err := poolFor(py).call(path, args); err == nil && ok {
		return true, out
	}
	out, err := exec.Command(py, append([]string{path}, args...)...).CombinedOutput()
	return err == nil, string(out)
}
