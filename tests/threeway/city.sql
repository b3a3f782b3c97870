-- The city database of the threeway tests (tests/threeway/threeway.py): the
-- city's own tables (schema city, read by change capture) and the inbound
-- tables cpsync writes (schema inbound), plus an append-only log of every
-- write into inbound.person, so that a test sees each version the city sink
-- ever wrote, not only the last one (the no-echo proof).
CREATE SCHEMA city;
CREATE TABLE city.person (
  national_id text PRIMARY KEY,
  name text NOT NULL,
  gender text NOT NULL,
  birth_date date NOT NULL,
  registration_region_code text NOT NULL,
  residence_region_code text NOT NULL,
  residence_address text,
  has_residence_permit boolean NOT NULL,
  disabled boolean NOT NULL,
  disability_grade text,
  seriously_ill boolean NOT NULL,
  labour_capacity text NOT NULL,
  phone text,
  household_id text,
  deceased boolean NOT NULL);
CREATE TABLE city.household (
  household_id text PRIMARY KEY,
  head_national_id text NOT NULL,
  members jsonb NOT NULL,
  member_count integer NOT NULL,
  region_code text NOT NULL,
  household_type text NOT NULL,
  per_capita_monthly_income numeric(12,2) NOT NULL,
  monitoring_category text NOT NULL,
  monitoring_since date);

CREATE SCHEMA inbound;
CREATE TABLE inbound.person (
  cpsync_key text PRIMARY KEY,
  cpsync_version bigint NOT NULL,
  national_id text, name text, gender text, birth_date date,
  registration_region_code text, residence_region_code text, residence_address text,
  has_residence_permit boolean, disabled boolean, disability_grade text,
  seriously_ill boolean, labour_capacity text, phone text, household_id text,
  deceased boolean);
CREATE TABLE inbound.household (
  cpsync_key text PRIMARY KEY,
  cpsync_version bigint NOT NULL,
  household_id text, head_national_id text, members jsonb, member_count integer,
  region_code text, household_type text, per_capita_monthly_income numeric(12,2),
  monitoring_category text, monitoring_since date);

CREATE TABLE inbound.person_log (
  id bigserial PRIMARY KEY,
  cpsync_key text NOT NULL,
  cpsync_version bigint NOT NULL,
  residence_address text,
  at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION inbound.log_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO inbound.person_log (cpsync_key, cpsync_version, residence_address)
  VALUES (NEW.cpsync_key, NEW.cpsync_version, NEW.residence_address);
  RETURN NEW;
END $$;
CREATE TRIGGER person_log AFTER INSERT OR UPDATE ON inbound.person
  FOR EACH ROW EXECUTE FUNCTION inbound.log_person();
-- fire whatever session_replication_role the sink's session runs with
ALTER TABLE inbound.person ENABLE ALWAYS TRIGGER person_log;
