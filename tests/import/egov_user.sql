-- egov-user's tables as its migrations leave them (Digit-Core core-services/egov-user,
-- src/main/resources/db/migration/ddl, read 2026-11; written here from those facts, for the import tests).
-- :fork = mgramseva adds defaultpwdchgd and has no alternatemobilenumber, countrycode nor audit table; the
-- test harness strips the lines marked "-- core" or "-- fork" for the variant it builds.

CREATE SEQUENCE seq_eg_user START 1;
CREATE SEQUENCE seq_eg_user_address START 1;

CREATE TABLE eg_user (
    title varchar(8),
    salutation varchar(5),
    dob timestamp,
    locale varchar(16),
    username varchar(180) NOT NULL,
    password varchar(64) NOT NULL,
    pwdexpirydate timestamp DEFAULT CURRENT_TIMESTAMP,
    mobilenumber varchar(150),
    altcontactnumber varchar(150),
    emailid varchar(300),
    createddate timestamp,
    lastmodifieddate timestamp,
    createdby bigint,
    lastmodifiedby bigint,
    active boolean,
    name varchar(250),
    gender smallint,
    pan varchar(65),
    aadhaarnumber varchar(85),
    type varchar(50),
    version numeric DEFAULT 0,
    guardian varchar(250),
    guardianrelation varchar(32),
    signature varchar(36),
    accountlocked boolean DEFAULT false,
    bloodgroup varchar(32),
    photo varchar(36),
    identificationmark varchar(300),
    tenantid varchar(256) NOT NULL,
    id bigint NOT NULL,
    uuid char(36),
    accountlockeddate bigint,
    alternatemobilenumber varchar(50) DEFAULT NULL, -- core
    countrycode varchar(10), -- core
    defaultpwdchgd boolean DEFAULT false, -- fork
    CONSTRAINT eg_user_pkey PRIMARY KEY (id, tenantid),
    CONSTRAINT eg_user_user_name_tenant UNIQUE (username, type, tenantid)
);
CREATE INDEX idx_eg_user_mobilenumber ON eg_user (mobilenumber);
CREATE INDEX idx_eg_user_uuid ON eg_user (uuid);

CREATE TABLE eg_user_address (
    id bigint PRIMARY KEY,
    version numeric DEFAULT 0,
    createddate timestamp NOT NULL,
    lastmodifieddate timestamp,
    createdby bigint NOT NULL,
    lastmodifiedby bigint,
    type varchar(50) NOT NULL,
    address varchar(440),
    city varchar(300),
    pincode varchar(10),
    userid bigint NOT NULL,
    tenantid varchar(256) NOT NULL,
    CONSTRAINT eg_user_address_user_fkey FOREIGN KEY (userid, tenantid)
        REFERENCES eg_user (id, tenantid) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT eg_user_address_type_unique UNIQUE (userid, tenantid, type)
);

CREATE TABLE eg_userrole_v1 (
    role_code varchar(50),
    role_tenantid varchar(256),
    user_id bigint,
    user_tenantid varchar(256),
    lastmodifieddate timestamp,
    CONSTRAINT fk_user_role_v1 FOREIGN KEY (user_id, user_tenantid) REFERENCES eg_user (id, tenantid)
);

CREATE TABLE eg_user_login_failed_attempts (
    user_uuid varchar(64) NOT NULL,
    ip varchar(46),
    attempt_date bigint NOT NULL,
    active boolean
);
