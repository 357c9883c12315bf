// Command fuseceiling mounts one in-memory file of a given size through
// go-fuse with annslicer's vfs options: the fastest a FUSE read can be on
// this machine, the ceiling that `make bench` compares mount reads with.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/annslicer/annslicer/vfs"
)

func main() {
	size := flag.Int64("size", 256<<20, "bytes in the file")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: fuseceiling [-size N] MOUNTPOINT")
		os.Exit(2)
	}
	srv, err := vfs.MountMemoryFile(flag.Arg(0), *size, vfs.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fuseceiling:", err)
		os.Exit(1)
	}
	fmt.Println(vfs.MemoryFileName)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { <-sigs; srv.Unmount() }()
	srv.Wait()
}
