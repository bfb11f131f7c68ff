package db

// CacheHits is how many look-ups the session cache has answered.
func (s *Store) CacheHits() int64 {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.cache.hits
}
