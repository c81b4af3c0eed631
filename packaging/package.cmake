# `make package`: the kmsd .deb (CPack's DEB generator). Included from the top CMakeLists.txt once
# the kmsd and kms targets exist. What goes where, and why, is in docs/PACKAGING.md.

set(KMSD_PACKAGE_MAINTAINER "kmsd maintainers <maintainers@users.noreply.r-seed-e66345c0.example>"
    CACHE STRING "Maintainer field of the kmsd .deb")

# Man pages from the programs' own --help (Debian's help2man), so they cannot drift from the code.
# packaging/man-help.sh adds every subcommand's help to the page of its program.
find_program(HELP2MAN_PROGRAM help2man)
set(kmsd_man_pages)
if(HELP2MAN_PROGRAM)
  foreach(entry "kmsd;8;key management service that speaks the AWS KMS API"
                "kms;1;envelope encryption of files and streams with a KMS")
    list(GET entry 0 program)
    list(GET entry 1 section)
    list(GET entry 2 summary)
    if(NOT TARGET ${program})
      continue()
    endif()
    # help2man names the page after the program it runs, so it runs a script of that name.
    set(help_script ${CMAKE_BINARY_DIR}/man/help/${program})
    file(GENERATE OUTPUT ${help_script}
         CONTENT "#!/bin/sh\nexec '${CMAKE_SOURCE_DIR}/packaging/man-help.sh' '$<TARGET_FILE:${program}>' ${program} \"$@\"\n"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
    set(page ${CMAKE_BINARY_DIR}/man/${program}.${section})
    add_custom_command(
      OUTPUT ${page}.gz
      COMMAND ${HELP2MAN_PROGRAM} --no-info --version-string=${PROJECT_VERSION} --section=${section}
              --name=${summary} --source=kmsd --output=${page} ${help_script}
      COMMAND gzip -9nf ${page}
      DEPENDS ${program} ${CMAKE_SOURCE_DIR}/packaging/man-help.sh
      COMMENT "help2man: ${program}.${section}"
      VERBATIM)
    list(APPEND kmsd_man_pages ${page}.gz)
    install(FILES ${page}.gz DESTINATION share/man/man${section})
  endforeach()
  add_custom_target(man-pages ALL DEPENDS ${kmsd_man_pages})
else()
  message(WARNING "help2man not found (scripts/install-deps installs it): the package has no man pages")
  add_custom_target(man-pages)
endif()

# cpack installs what is built without building `all` first: `make package` builds only the
# packaged targets.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
install(TARGETS kmsd RUNTIME DESTINATION bin)
if(TARGET kms)
  install(TARGETS kms RUNTIME DESTINATION bin)
endif()
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION share/doc/kmsd)
file(GLOB kmsd_docs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${kmsd_docs} DESTINATION share/doc/kmsd/docs)
# Debian keeps units in /lib/systemd/system and configuration in /etc whatever the prefix.
install(FILES ${CMAKE_SOURCE_DIR}/packaging/kmsd.service DESTINATION /lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/kmsd.toml DESTINATION /etc/kmsd)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kmsd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_CONTACT "${KMSD_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "key management service that speaks the AWS KMS API")
# The extended description; CPack puts the summary above it and indents it as control files want.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "kmsd is a self-hosted key management service: the aws CLI, boto3 and the AWS
SDKs work against it with --endpoint-url. Master keys never leave the server;
every request is SigV4-authenticated, authorized by IAM and key policies and
recorded in a hash-chained, signed audit trail. The kms command does envelope
encryption of files and streams (AWS Encryption SDK message format).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${KMSD_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies from dpkg-shlibdeps (dpkg-dev); adduser for the postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles
    ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/prerm
    ${CMAKE_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
