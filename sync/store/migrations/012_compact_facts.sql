-- The per-platform facts of a key state (reconcile.h's `platforms`) in a
-- compact binary form (store/state_facts.c: its first byte is the layout):
-- each platform's stamp once, its fields' distinct stamps in a table they
-- refer to, values as tagged binary JSON; about a third of the jsonb text,
-- and neither parsed as jsonb nor written as JSON text on every batch.
-- cpsync writes `facts` and leaves `platforms` '{}'; a row written before
-- (facts NULL) is read from `platforms` as it was, so no data migration.
-- The API's record endpoint (GET /api/v1/records/{entity}/{key}) shows the
-- facts decoded; psql shows them as bytea.
ALTER TABLE cpsync.records ADD COLUMN facts bytea;

-- The facts as reconcile.h's JSON tree, for psql and SQL reports:
--   SELECT key, cpsync.facts_json(facts) -> 'city' FROM cpsync.records ...
--   COALESCE(cpsync.facts_json(facts), platforms)  -- rows of either age
-- A reader of the same layout as store/state_facts.c (the unit test
-- test_state_facts compares the two); strings escaped for jsonb as
-- store/jsonb.c does (U+0000 -> U+E000 '0', U+E000 -> U+E000 U+E000).
-- Slow next to cpsync's own decoder: for people, not for every row of a batch.
CREATE FUNCTION cpsync.facts_varint(b bytea, INOUT pos int, OUT v numeric)
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	c int;
	mult numeric := 1;
BEGIN
	v := 0;
	LOOP
		c := get_byte(b, pos);
		pos := pos + 1;
		v := v + (c & 127) * mult;
		EXIT WHEN c < 128;
		mult := mult * 128;
		IF mult > 2 ^ 70 THEN
			RAISE EXCEPTION 'facts: a varint past 64 bits at byte %', pos;
		END IF;
	END LOOP;
END
$$;

CREATE FUNCTION cpsync.facts_zz(b bytea, INOUT pos int, OUT v numeric)
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
	SELECT r.pos, r.v INTO pos, v FROM cpsync.facts_varint(b, pos) r;
	v := CASE WHEN mod(v, 2) = 0 THEN div(v, 2) ELSE -div(v + 1, 2) END;
END
$$;

CREATE FUNCTION cpsync.facts_str(b bytea, INOUT pos int, OUT s text)
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	n int;
	raw bytea;
	esc bytea := ''::bytea;
	i int := 0;
	c int;
BEGIN
	SELECT r.pos, r.v INTO pos, n FROM cpsync.facts_varint(b, pos) r;
	IF pos + n > length(b) THEN
		RAISE EXCEPTION 'facts: truncated at byte %', pos;
	END IF;
	raw := substring(b FROM pos + 1 FOR n);
	pos := pos + n;
	IF position('\x00'::bytea IN raw) = 0 AND position('\xee8080'::bytea IN raw) = 0 THEN
		s := convert_from(raw, 'UTF8');
		RETURN;
	END IF;
	WHILE i < n LOOP
		c := get_byte(raw, i);
		IF c = 0 THEN
			esc := esc || '\xee808030'::bytea;
			i := i + 1;
		ELSIF c = 238 AND i + 2 < n AND get_byte(raw, i + 1) = 128 AND get_byte(raw, i + 2) = 128 THEN
			esc := esc || '\xee8080ee8080'::bytea;
			i := i + 3;
		ELSE
			esc := esc || set_byte('\x00'::bytea, 0, c);
			i := i + 1;
		END IF;
	END LOOP;
	s := convert_from(esc, 'UTF8');
END
$$;

-- A little-endian IEEE double from 8 bytes, as the number cpsync's JSON
-- text of it reads as (jansson's %.17g: 17 significant digits), computed
-- exactly in numeric (float8 would print its shortest form instead).
CREATE FUNCTION cpsync.facts_real(b bytea, pos int) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	hi int := get_byte(b, pos + 7);
	e int := ((hi & 127) << 4) | (get_byte(b, pos + 6) >> 4);
	m numeric := get_byte(b, pos + 6) & 15;
	d text;
	x int;
BEGIN
	FOR k IN REVERSE 5..0 LOOP
		m := m * 256 + get_byte(b, pos + k);
	END LOOP;
	IF e = 2047 THEN
		RAISE EXCEPTION 'facts: a real that is not a finite number at byte %', pos;
	END IF;
	IF e > 0 THEN
		m := m + 4503599627370496; -- the implicit leading bit
	ELSE
		e := 1;
	END IF;
	IF m = 0 THEN
		RETURN 0;
	END IF;
	e := e - 1075; -- the value is m * 2^e
	IF e >= 0 THEN
		d := trunc(m * 2::numeric ^ e)::text;
		x := 0;
	ELSE -- m * 2^e = m * 5^-e * 10^e, exactly
		d := trunc(m * 5::numeric ^ (-e))::text;
		x := e;
	END IF;
	IF length(d) > 17 THEN -- 17 significant digits, as printed
		x := x + length(d) - 17;
		d := round((d || 'e-' || (length(d) - 17))::numeric)::text;
	END IF;
	RETURN (CASE WHEN hi >= 128 THEN '-' ELSE '' END || d || 'e' || x)::numeric;
END
$$;

CREATE FUNCTION cpsync.facts_value(b bytea, INOUT pos int, depth int, OUT v jsonb)
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	tag int;
	n numeric;
	k text;
	x jsonb;
BEGIN
	IF depth > 64 THEN
		RAISE EXCEPTION 'facts: values nested too deep at byte %', pos;
	END IF;
	tag := get_byte(b, pos);
	pos := pos + 1;
	CASE tag
	WHEN 0 THEN v := 'null';
	WHEN 1 THEN v := 'false';
	WHEN 2 THEN v := 'true';
	WHEN 3 THEN
		SELECT r.pos, to_jsonb(r.v) INTO pos, v FROM cpsync.facts_zz(b, pos) r;
	WHEN 4 THEN
		v := to_jsonb(cpsync.facts_real(b, pos));
		pos := pos + 8;
	WHEN 5 THEN
		SELECT r.pos, to_jsonb(r.s) INTO pos, v FROM cpsync.facts_str(b, pos) r;
	WHEN 6 THEN
		SELECT r.pos, r.v INTO pos, n FROM cpsync.facts_varint(b, pos) r;
		v := '[]';
		FOR i IN 1..n LOOP
			SELECT r.pos, r.v INTO pos, x FROM cpsync.facts_value(b, pos, depth + 1) r;
			v := v || jsonb_build_array(x);
		END LOOP;
	WHEN 7 THEN
		SELECT r.pos, r.v INTO pos, n FROM cpsync.facts_varint(b, pos) r;
		v := '{}';
		FOR i IN 1..n LOOP
			SELECT r.pos, r.s INTO pos, k FROM cpsync.facts_str(b, pos) r;
			SELECT r.pos, r.v INTO pos, x FROM cpsync.facts_value(b, pos, depth + 1) r;
			v := v || jsonb_build_object(k, x);
		END LOOP;
	ELSE
		RAISE EXCEPTION 'facts: an unknown value tag at byte %', pos - 1;
	END CASE;
END
$$;

-- A stamp (eff, src, pos) as the jsonb members of the objects stamped with it.
CREATE FUNCTION cpsync.facts_stamp(b bytea, INOUT pos int, OUT v jsonb)
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	eff numeric;
	src numeric;
	p text;
BEGIN
	SELECT r.pos, r.v INTO pos, eff FROM cpsync.facts_zz(b, pos) r;
	SELECT r.pos, r.v INTO pos, src FROM cpsync.facts_zz(b, pos) r;
	pos := pos + 1;
	IF get_byte(b, pos - 1) = 1 THEN
		SELECT r.pos, r.s INTO pos, p FROM cpsync.facts_str(b, pos) r;
	ELSIF get_byte(b, pos - 1) <> 0 THEN
		RAISE EXCEPTION 'facts: a position neither null nor a string at byte %', pos - 1;
	END IF;
	v := jsonb_build_object('eff', eff, 'src', src, 'pos', p);
END
$$;

CREATE FUNCTION cpsync.facts_json(b bytea) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	pos int := 1;
	np numeric;
	ns numeric;
	nf numeric;
	name text;
	fname text;
	ref numeric;
	stamps jsonb[];
	st jsonb;
	plat jsonb;
	fields jsonb;
	x jsonb;
	out jsonb := '{}';
BEGIN
	IF get_byte(b, 0) <> 1 THEN
		RAISE EXCEPTION 'facts: unknown layout %', get_byte(b, 0);
	END IF;
	SELECT r.pos, r.v INTO pos, np FROM cpsync.facts_varint(b, pos) r;
	FOR i IN 1..np LOOP
		SELECT r.pos, r.s INTO pos, name FROM cpsync.facts_str(b, pos) r;
		pos := pos + 1;
		IF get_byte(b, pos - 1) = 0 THEN
			SELECT r.pos, r.v INTO pos, plat FROM cpsync.facts_value(b, pos, 1) r;
		ELSE
			plat := jsonb_build_object('withdrawn', get_byte(b, pos) = 1);
			SELECT r.pos, r.v INTO pos, st FROM cpsync.facts_stamp(b, pos + 1) r;
			stamps := ARRAY[st];
			SELECT r.pos, r.v INTO pos, ns FROM cpsync.facts_varint(b, pos) r;
			FOR j IN 1..ns LOOP
				SELECT r.pos, r.v INTO pos, x FROM cpsync.facts_stamp(b, pos) r;
				stamps := stamps || x;
			END LOOP;
			fields := '{}';
			SELECT r.pos, r.v INTO pos, nf FROM cpsync.facts_varint(b, pos) r;
			FOR j IN 1..nf LOOP
				SELECT r.pos, r.s INTO pos, fname FROM cpsync.facts_str(b, pos) r;
				SELECT r.pos, r.v INTO pos, ref FROM cpsync.facts_varint(b, pos) r;
				IF ref > ns + 1 THEN
					RAISE EXCEPTION 'facts: a field referring to a missing stamp at byte %', pos;
				END IF;
				SELECT r.pos, r.v INTO pos, x FROM cpsync.facts_value(b, pos, 3) r;
				IF ref > 0 THEN
					x := jsonb_build_object('v', x) || stamps[ref];
				END IF;
				fields := fields || jsonb_build_object(fname, x);
			END LOOP;
			plat := plat || st || jsonb_build_object('fields', fields);
		END IF;
		out := out || jsonb_build_object(name, plat);
	END LOOP;
	IF pos <> length(b) THEN
		RAISE EXCEPTION 'facts: bytes after the last platform at byte %', pos;
	END IF;
	RETURN out;
END
$$;
