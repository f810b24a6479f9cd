-- The schema provreg 0.1.0 (SCHEMA_VERSION 2, before migrations) created with SQLModel.metadata.create_all on postgresql,
-- and the rows it wrote at creation. Generated from that release's registry/models.py. Never edit.

CREATE TABLE log_audit_mark (
	id INTEGER NOT NULL, 
	note VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE log_checkpoint (
	size SERIAL NOT NULL, 
	root BYTEA NOT NULL, 
	note VARCHAR NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (size)
);
CREATE TABLE log_entry (
	log_index SERIAL NOT NULL, 
	kind VARCHAR(40) NOT NULL, 
	subject VARCHAR(64) NOT NULL, 
	leaf_hash BYTEA NOT NULL, 
	entry VARCHAR NOT NULL, 
	PRIMARY KEY (log_index)
);
CREATE INDEX ix_log_entry_subject ON log_entry (subject);
CREATE TABLE log_node (
	level INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	hash BYTEA NOT NULL, 
	PRIMARY KEY (level, position)
);
CREATE TABLE publisher (
	id VARCHAR(40) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	verification_method VARCHAR(100) NOT NULL, 
	verification_evidence VARCHAR(2000) NOT NULL, 
	verified_by VARCHAR(200) NOT NULL, 
	verified_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	verification_expires_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_publisher_name ON publisher (name);
CREATE TABLE schema_version (
	id SERIAL NOT NULL, 
	version INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE write_lock (
	id SERIAL NOT NULL, 
	generation INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE api_key (
	id VARCHAR(40) NOT NULL, 
	publisher_id VARCHAR(40) NOT NULL, 
	secret_sha256 VARCHAR(64) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	revoked_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(publisher_id) REFERENCES publisher (id)
);
CREATE INDEX ix_api_key_publisher_id ON api_key (publisher_id);
CREATE UNIQUE INDEX ix_api_key_secret_sha256 ON api_key (secret_sha256);
CREATE TABLE publisher_key (
	key_id VARCHAR(64) NOT NULL, 
	publisher_id VARCHAR(40) NOT NULL, 
	public_key BYTEA NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	retired_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (key_id), 
	FOREIGN KEY(publisher_id) REFERENCES publisher (id)
);
CREATE INDEX ix_publisher_key_publisher_id ON publisher_key (publisher_id);
CREATE TABLE used_nonce (
	publisher_id VARCHAR(40) NOT NULL, 
	nonce VARCHAR(128) NOT NULL, 
	PRIMARY KEY (publisher_id, nonce), 
	FOREIGN KEY(publisher_id) REFERENCES publisher (id)
);
CREATE TABLE key_revocation (
	key_id VARCHAR(64) NOT NULL, 
	compromised_since TIMESTAMP WITH TIME ZONE NOT NULL, 
	log_index INTEGER NOT NULL, 
	PRIMARY KEY (key_id), 
	FOREIGN KEY(key_id) REFERENCES publisher_key (key_id), 
	UNIQUE (log_index)
);
CREATE TABLE registration (
	id VARCHAR(40) NOT NULL, 
	publisher_id VARCHAR(40) NOT NULL, 
	key_id VARCHAR(64) NOT NULL, 
	statement VARCHAR NOT NULL, 
	signature VARCHAR(200) NOT NULL, 
	content_sha256 VARCHAR(64) NOT NULL, 
	media_type VARCHAR(100) NOT NULL, 
	size INTEGER NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	facts VARCHAR NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	log_index INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (publisher_id, content_sha256), 
	FOREIGN KEY(publisher_id) REFERENCES publisher (id), 
	FOREIGN KEY(key_id) REFERENCES publisher_key (key_id), 
	UNIQUE (log_index)
);
CREATE INDEX ix_registration_content_sha256 ON registration (content_sha256);
CREATE INDEX ix_registration_created_at ON registration (created_at);
CREATE INDEX ix_registration_publisher_id ON registration (publisher_id);
CREATE TABLE content_revocation (
	registration_id VARCHAR(40) NOT NULL, 
	reason VARCHAR(1000) NOT NULL, 
	revoked_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	log_index INTEGER NOT NULL, 
	PRIMARY KEY (registration_id), 
	FOREIGN KEY(registration_id) REFERENCES registration (id), 
	UNIQUE (log_index)
);
CREATE TABLE local_features (
	id SERIAL NOT NULL, 
	registration_id VARCHAR(40) NOT NULL, 
	data BYTEA NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (registration_id), 
	FOREIGN KEY(registration_id) REFERENCES registration (id)
);
CREATE TABLE media_hash (
	id SERIAL NOT NULL, 
	registration_id VARCHAR(40) NOT NULL, 
	alg VARCHAR(20) NOT NULL, 
	variant VARCHAR(40) NOT NULL, 
	value BYTEA NOT NULL, 
	quality INTEGER, 
	PRIMARY KEY (id), 
	FOREIGN KEY(registration_id) REFERENCES registration (id)
);
CREATE INDEX ix_media_hash_alg_id ON media_hash (alg, id);
CREATE INDEX ix_media_hash_registration_alg ON media_hash (registration_id, alg);
INSERT INTO schema_version (id, version) VALUES (1, 2);
INSERT INTO write_lock (id, generation) VALUES (1, 0);
