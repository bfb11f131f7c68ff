package db

// CacheHits is how many look-ups the session cache has answered.
func (s *Store) CacheHits() int64 {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.cache.hits
}

// CacheChecks counts the cache's PRAGMA data_version queries.
func (s *Store) CacheChecks() int64 {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.cache.checks
}

// CacheMapsWALIndex reports whether the cache reads the wal-index header.
func (s *Store) CacheMapsWALIndex() bool { return s.cache.wal != nil && s.cache.wal.mapped() }
