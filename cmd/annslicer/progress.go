package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// progress reports on stderr: a bar when stderr is a terminal, one line
// per shard with --debug, nothing otherwise (scripts and logs stay clean).
type progress struct {
	tty    bool
	shards int
	total  int64
	cells  int64
	start  time.Time
}

func newProgress() *progress {
	st, err := os.Stderr.Stat()
	return &progress{tty: err == nil && st.Mode()&os.ModeCharDevice != 0 && !debug}
}

func (p *progress) Begin(shards int, cells int64) {
	p.shards, p.total, p.start = shards, cells, time.Now()
}

func (p *progress) Cells(n int64) {
	p.cells += n
	if !p.tty {
		return
	}
	frac := 1.0
	if p.total > 0 {
		frac = float64(p.cells) / float64(p.total)
	}
	const width = 30
	bar := strings.Repeat("#", int(frac*width)) + strings.Repeat(" ", width-int(frac*width))
	fmt.Fprintf(os.Stderr, "\r[%s] %3.0f%%  %d/%d cells  %.1fs", bar, frac*100, p.cells, p.total, time.Since(p.start).Seconds())
}

func (p *progress) ShardDone(k int, path string, cells int64, took time.Duration) {
	if debug {
		logf("shard %d/%d: %s (%d cells) in %.2fs", k+1, p.shards, path, cells, took.Seconds())
	}
}

func (p *progress) End() {
	if p.tty {
		fmt.Fprintln(os.Stderr)
	}
}
