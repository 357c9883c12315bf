package zarr

// SetReadFile makes every store opened with c read its chunk files and
// metadata documents (after Open) with fn instead of readFile. fn must
// fail as os.ReadFile does, and like readFile refuse anything but a regular
// file of at most MaxChunkBytes (an *fs.PathError wrapping fs.ErrNotExist for a
// missing file: a missing chunk is fill values). A mount uses it to check
// each file against its state at mount time. The cache is the one thing a
// caller hands to every store it opens, hence the hook lives here. Call it
// before the cache is used.
func (c *Cache) SetReadFile(fn func(path string) ([]byte, error)) { c.readFn = fn }

func (c *Cache) readFile(path string) ([]byte, error) {
	if c.readFn != nil {
		return c.readFn(path)
	}
	return readFile(path)
}
