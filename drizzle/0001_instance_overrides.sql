CREATE TABLE `instance_overrides` (
	`instance` text PRIMARY KEY NOT NULL,
	`settings` text NOT NULL,
	`updated_at_ms` integer NOT NULL
);
