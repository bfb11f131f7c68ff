package postgres

import (
	"context"
	"fmt"
	"time"

	"gatehouse/db"
)

// nullID stores an id of 0 as NULL (no account).
func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// AddAdminLog records an admin action.
func (s *Store) AddAdminLog(ctx context.Context, e db.AdminLogEntry) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO admin_log (at, actor_id, actor_name, target_id, target_name, action, detail, ip)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.At.Unix(), nullID(e.ActorID), e.ActorName, nullID(e.TargetID), e.TargetName, e.Action, e.Detail, e.IP)
	if err != nil {
		return fmt.Errorf("postgres: add admin log: %w", err)
	}
	return nil
}

// AdminLog returns up to limit admin actions, newest first, skipping
// offset.
func (s *Store) AdminLog(ctx context.Context, limit, offset int) ([]db.AdminLogEntry, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, at, actor_id, actor_name, target_id, target_name, action, detail, ip
		FROM admin_log
		ORDER BY at DESC, id DESC
		LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("postgres: read admin log: %w", err)
	}
	defer rows.Close()
	var out []db.AdminLogEntry
	for rows.Next() {
		var e db.AdminLogEntry
		var at int64
		var actor, target *int64
		if err := rows.Scan(&e.ID, &at, &actor, &e.ActorName, &target, &e.TargetName, &e.Action, &e.Detail, &e.IP); err != nil {
			return nil, fmt.Errorf("postgres: read admin log: %w", err)
		}
		e.At = time.Unix(at, 0).UTC()
		if actor != nil {
			e.ActorID = *actor
		}
		if target != nil {
			e.TargetID = *target
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read admin log: %w", err)
	}
	return out, nil
}
